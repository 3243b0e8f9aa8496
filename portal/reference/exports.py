"""Excel exports of the reference data the province office keeps: the paired counties (under the
page's province filter) and the category and measure-unit lists."""
from portal.jobs.exports import Export, exporter
from portal.reference import admin

TEXT = "@"
COUNTY_COLUMNS = [("区划代码", 10, TEXT), ("省份", 18, None), ("城市", 16, None), ("县（区、市）", 20, None),
                  ("原名称", 16, None), ("帮扶城市", 12, None), ("国家乡村振兴重点帮扶县", 12, None)]
ENTRY_COLUMNS = [("序号", 6, None), ("名称", 20, None), ("状态", 10, None)]


def known_province(code):
    """The province filter of the counties page, as (code, name): a province of the list, else
    all of them ("", "")."""
    names = {province.code: province.name for province in admin.provinces()}
    return (code, names[code]) if code in names else ("", "")


@exporter("reference.counties", may=admin.may_edit_reference)
def counties_export(account, args):
    """The counties as the page lists them, of one province when the filter names one."""
    province, name = known_province(args.get("province", ""))
    counties = admin.counties_of(province or None)
    title = f"帮扶县-{name}" if name else "帮扶县"
    rows = ([county.code, county.parent.parent.name, county.parent.name, county.name, county.seed_name or "",
             county.helper_city.name if county.helper_city else "省直接帮扶", "是" if county.key_county else "否"]
            for county in counties)
    return Export(title, [(title, COUNTY_COLUMNS, rows)], len(counties))


@exporter("reference.lists", may=admin.may_edit_reference)
def lists_export(account, args):
    """The category and measure-unit lists, one sheet each, in the order the form offers them."""
    entries = admin.dictionary_entries()
    sheets = [(label, ENTRY_COLUMNS, [[index, entry.name, "可选" if entry.active else "已停用"]
                                      for index, entry in enumerate(entries[kind], start=1)])
              for kind, label in admin.DICTIONARY_KINDS.items()]
    return Export("品类与单位", sheets, sum(len(listed) for listed in entries.values()))
