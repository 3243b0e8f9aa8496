"""Every list to Excel (issue 12, item 6): a filer's own records, account management's units and
a unit's accounts, and the reference data (periods, category and unit lists, paired counties).
Each file holds exactly the rows its list shows under the same filters, across all its pages,
and nothing outside the person's scope; numbers are masked; a large one goes through the worker
with the same rows."""
import html
import io
import re

import openpyxl
import pytest
from sqlalchemy import select

from portal.accounts.models import Account
from portal.audit import AuditEvent
from portal.extensions import db
from portal.records import periods
from portal.reference import admin
from tests.conftest import csrf_token
from tests.factories import file_record

HX = {"HX-Request": "true"}


def sheets(response):
    """{sheet title: data rows (the header left out)} of an .xlsx answer."""
    assert response.status_code == 200, response.status_code
    assert "attachment" in response.headers["Content-Disposition"]
    book = openpyxl.load_workbook(io.BytesIO(response.data), read_only=True)
    return {sheet.title: [list(row) for row in sheet.iter_rows(values_only=True)][1:] for sheet in book.worksheets}


def only_sheet(response):
    (rows,) = sheets(response).values()
    return rows


def every_page(client, url, cell):
    """The first cells of every row the list shows, following its 下一页 links."""
    found = []
    while url:
        page = client.get(url).get_data(as_text=True)
        found += [html.unescape(value) for value in re.findall(cell, page)]
        more = re.search(r'href="([^"]+)">下一页</a>', page)
        url = html.unescape(more.group(1)) if more else None
    return found


def export_link(client, url, link_id):
    """The export link as the list page (after its filters) carries it."""
    page = client.get(url, headers=HX).get_data(as_text=True)
    return html.unescape(re.search(rf'id="{link_id}" href="([^"]+)"', page).group(1))


# -- a filer's own records ------------------------------------------------------------------

@pytest.fixture
def filed(app, tree):
    """The Guangzhou merchant's rice (three filed, one draft) and apples; rice of its market and
    of the Shenzhen merchant, which its list never shows."""
    with app.app_context():
        def account(role):
            return db.session.get(Account, getattr(tree, role).id)

        mine = [file_record(account("gz_merchant"), app.instance_path, product_name=f"丝苗香米{n}").id
                for n in range(3)]
        mine.append(file_record(account("gz_merchant"), app.instance_path, submit=False, product_name="丝苗香米草稿").id)
        apples = file_record(account("gz_merchant"), app.instance_path, product_name="苹果").id
        others = [file_record(account(role), app.instance_path, product_name="丝苗香米").id
                  for role in ("gz_market", "sz_merchant")]
        db.session.commit()
    return {"rice": mine, "apples": apples, "others": others}


@pytest.mark.parametrize("query, expected", [
    ("q=香米", lambda f: f["rice"]),
    ("status=draft&q=香米", lambda f: f["rice"][3:]),
    ("status=filed", lambda f: f["rice"][:3] + [f["apples"]]),
    ("", lambda f: f["rice"] + [f["apples"]]),
    ("status=nonsense", lambda f: f["rice"] + [f["apples"]]),
])
def test_the_filers_export_holds_exactly_its_filtered_list(app, tree, login, filed, query, expected):
    app.config["PAGE_SIZE"] = 2  # the list takes pages; the file is all of them
    merchant = login(app.test_client(), tree.gz_merchant.phone)
    listed = [int(cell) for cell in every_page(merchant, f"/records/?{query}", r"<tr>\s*<td>(\d+)</td>")]
    link = export_link(merchant, f"/records/?{query}", "export-records")
    rows = only_sheet(merchant.get(link))
    assert [row[1] for row in rows] == listed == sorted(expected(filed), reverse=True)
    assert {row[2] for row in rows} == {"广州批发商"} and [row[0] for row in rows] == list(range(1, len(rows) + 1))


def test_a_filer_never_gets_another_units_records(app, tree, login, filed):
    for role in ("gz_market", "sz_merchant"):
        client = login(app.test_client(), getattr(tree, role).phone)
        rows = only_sheet(client.get("/records/export?q=香米"))
        assert [row[1] for row in rows] == [filed["others"][0 if role == "gz_market" else 1]]
    store = login(app.test_client(), tree.gz_store.phone)
    assert only_sheet(store.get("/records/export")) == []
    reviewer = login(app.test_client(), tree.gz_office.phone)
    assert reviewer.get("/records/export").status_code == 403


def test_a_large_own_export_is_written_by_the_worker_with_the_same_rows(app, tree, login, filed):
    merchant = login(app.test_client(), tree.gz_merchant.phone)
    inline = only_sheet(merchant.get("/records/export?q=香米"))
    app.config["EXPORT_INLINE_ROWS"] = 1
    queued = merchant.get("/records/export?q=香米")
    assert queued.status_code == 302 and queued.headers["Location"].startswith("/exports/")
    assert only_sheet(merchant.get(queued.headers["Location"] + "/download")) == inline
    other = login(app.test_client(), tree.gz_market.phone)
    assert other.get(queued.headers["Location"] + "/download").status_code == 404


def test_an_export_is_in_the_trail(app, tree, login, filed):
    merchant = login(app.test_client(), tree.gz_merchant.phone)
    merchant.get("/records/export?status=draft")
    with app.app_context():
        event = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
        assert (event.action, event.account_id) == ("export", tree.gz_merchant.id)
        assert "/records/export?status=draft" in event.detail_data["路径"]


def test_hostile_filters_are_answered_not_failed(app, tree, login, filed):
    merchant = login(app.test_client(), tree.gz_merchant.phone)
    for query in ("q=" + "米" * 5000, "q=%00%25_", "status=" + "x" * 300, "q=%3D1%2B1"):
        assert merchant.get(f"/records/export?{query}").status_code == 200
        assert sheets(merchant.get(f"/accounts/export?{query}"))["单位"] == []  # it opens no unit
    market = login(app.test_client(), tree.gz_market.phone)
    for query in ("kind=" + "x" * 300, "q=%00%25_", "q=" + "市" * 5000):
        assert market.get(f"/accounts/export?{query}").status_code == 200


# -- account management -------------------------------------------------------------------

@pytest.mark.parametrize("role, query", [
    ("gz_office", ""), ("gz_office", "kind=market"), ("gz_office", "q=广州"), ("gz_office", "q=137****1011"),
    ("province", ""), ("province", "kind=city_office"), ("gz_market", ""),
])
def test_the_units_export_holds_the_listed_units_and_their_accounts_masked(app, tree, login, role, query):
    app.config["PAGE_SIZE"] = 2
    admin_client = login(app.test_client(), getattr(tree, role).phone)
    listed = every_page(admin_client, f"/accounts/?{query}", r"<tr>\s*<td>([^<]+)</td>\s*<td>[^<]*</td>\s*<td>")
    link = export_link(admin_client, f"/accounts/?{query}", "export-units")
    book = sheets(admin_client.get(link))
    assert [row[1] for row in book["单位"]] == listed and listed
    assert {row[1] for row in book["账号"]} == set(listed)
    with app.app_context():
        phones = {account.phone for account in db.session.scalars(select(Account))}
    cells = [str(cell) for rows in book.values() for row in rows for cell in row]
    assert not any(phone in cell for phone in phones for cell in cells)  # no full number anywhere
    assert all(re.fullmatch(r"1\d\d\*{4}\d{4}", row[3]) for row in book["账号"])
    if role == "gz_office":
        assert not any("深圳" in cell for cell in cells)


def test_a_units_accounts_export_is_the_units_own_page(app, tree, login):
    office = login(app.test_client(), tree.gz_office.phone)
    rows = only_sheet(office.get(f"/accounts/units/{tree.gz_market.unit_id}/export"))
    assert [(row[1], row[2], row[3], row[5]) for row in rows] == [("广州批发市场", "联系人", "137****1011", "正常")]
    assert office.get(f"/accounts/units/{tree.sz_market.unit_id}/export").status_code == 404
    own = only_sheet(office.get(f"/accounts/units/{tree.gz_office.unit_id}/export"))
    assert {row[2] for row in own} == {"联系人", "广州审核员"}
    reviewer = login(app.test_client(), tree.gz_reviewer.phone)
    assert reviewer.get(f"/accounts/units/{tree.gz_market.unit_id}/export").status_code == 403


def test_a_queued_units_accounts_export_is_refused_once_the_unit_is_out_of_reach(app, tree, login):
    from portal.accounts.exports import unit_accounts_export
    from portal.jobs.queue import JobError

    app.config["EXPORT_INLINE_ROWS"] = -1
    office = login(app.test_client(), tree.gz_office.phone)
    location = office.get(f"/accounts/units/{tree.gz_market.unit_id}/export").headers["Location"]
    assert only_sheet(office.get(location + "/download"))[0][1] == "广州批发市场"
    with app.app_context():
        shenzhen = db.session.get(Account, tree.sz_office.id)
        with pytest.raises(JobError):
            unit_accounts_export(shenzhen, {"unit": str(tree.gz_market.unit_id)})
        with pytest.raises(JobError):
            unit_accounts_export(shenzhen, {"unit": "not a number"})


# -- reference data -----------------------------------------------------------------------

@pytest.mark.usefixtures("reference_edits")
def test_the_reference_exports_hold_what_their_pages_list(app, tree, login):
    province = login(app.test_client(), tree.province.phone)
    guizhou = only_sheet(province.get("/reference-data/counties/export?province=520000"))
    page = province.get("/reference-data/counties?province=520000").get_data(as_text=True)
    assert [row[0] for row in guizhou] == re.findall(r'<tr id="county-(\d+)">', page)
    assert all(row[1] == "贵州省" for row in guizhou) and {row[6] for row in guizhou} <= {"是", "否"}
    link = html.unescape(re.search(r'href="([^"]+)">导出Excel', page).group(1))
    assert link == "/reference-data/counties/export?province=520000"
    everywhere = only_sheet(province.get("/reference-data/counties/export?province=bogus"))
    with app.app_context():
        assert len(everywhere) == len(admin.counties_of()) > len(guizhou)
        entries = admin.dictionary_entries()
        listed_periods = [period.name for period, _, _ in periods.periods_with_totals()]
    lists = sheets(province.get("/reference-data/lists/export"))
    assert [row[1] for row in lists["品类"]] == [entry.name for entry in entries["category"]]
    assert [row[1] for row in lists["单位"]] == [entry.name for entry in entries["measure_unit"]]
    assert [row[0] for row in only_sheet(province.get("/records/periods/export"))] == listed_periods
    staff = login(app.test_client(), tree.province_reviewer.phone)
    for url in ("/reference-data/counties/export", "/reference-data/lists/export", "/records/periods/export"):
        assert staff.get(url).status_code == 403


@pytest.mark.usefixtures("reference_edits")
def test_a_closed_period_and_a_retired_entry_export_as_the_page_shows_them(app, tree, login):
    province = login(app.test_client(), tree.province.phone)
    with app.app_context():
        period_id, period_name = db.session.execute(select(periods.ReportingPeriod.id, periods.ReportingPeriod.name)
                                                    .order_by(periods.ReportingPeriod.id)).first()
    token = csrf_token(province, "/")
    province.post(f"/records/periods/{period_id}/open", data={"open": "0"}, headers={"X-CSRFToken": token, **HX})
    province.post("/reference-data/lists/category", data={"category-name": "蜂产品"},
                  headers={"X-CSRFToken": token, **HX})
    rows = {row[0]: row for row in only_sheet(province.get("/records/periods/export"))}
    assert rows[period_name][3] == "已关闭"
    assert sheets(province.get("/reference-data/lists/export"))["品类"][-1][1:] == ["蜂产品", "可选"]
