"""Excel export of record lists (Chinese headers, number formats), and the queries the lists
share with their files, so that a file holds exactly what its list shows."""
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from portal.clock import format_datetime, to_china, utcnow
from portal.excel import xlsx_download, xlsx_workbook_download
from portal.extensions import db
from portal.jobs.exports import Export, exporter
from portal.params import Reader
from portal.records import periods, queries, rules
from portal.records.models import PurchaseRecord, ReviewEvent
from portal.records.states import STATUS_LABELS

TEXT, MONEY, QUANTITY = "@", "#,##0.00", "#,##0.###"
COLUMNS = [("序号", 6, None), ("记录编号", 10, None), ("填写单位", 28, None), ("渠道", 12, None),
           ("填报类型", 22, None), ("是否直接向原产地采购", 12, None), ("产地省份", 16, None), ("产地城市", 14, None),
           ("产地区县", 18, None), ("品类", 10, None), ("单位", 8, None), ("产品名称", 20, None),
           ("采购数量", 12, QUANTITY), ("采购金额（元）", 16, MONEY), ("状态", 10, None), ("提交时间", 18, None)]


def _values(index, record):
    return [index, record.id, record.unit.name, record.channel_label, record.period.name if record.period else "",
            {True: "是", False: "否"}.get(record.direct_from_origin, ""),
            record.origin_province.name if record.origin_province else "",
            record.origin_city.name if record.origin_city else "",
            record.origin_county.name if record.origin_county else "",
            record.category.name if record.category else "", record.measure_unit.name if record.measure_unit else "",
            record.product_name or "", record.quantity, record.amount, record.status_label,
            format_datetime(record.submitted_at)]


def xlsx_response(records, title, *, max_rows):
    rows = (_values(index, record) for index, record in enumerate(records, start=1))
    return xlsx_download(title, COLUMNS, rows, max_rows=max_rows)


def _count(query):
    return db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))


@exporter("records.review", may=rules.is_reviewer)
def review_export(account, args):
    """A reviewer's queue (待审核) or history (已审核) under the page's filters."""
    filters = queries.RecordFilters.from_args(args)
    done = args.get("tab") == "done"
    if done:
        query, title = queries.done_query(account, filters), "已审核购销记录"
    else:
        query, title = queries.pending_query(account, filters), "待审核购销记录"

    def rows():  # read only when written: a queued export's request never runs the query
        if done:
            records = (event.record for event in db.session.scalars(query.order_by(ReviewEvent.id.desc())))
        else:
            records = db.session.scalars(query.order_by(PurchaseRecord.id.desc()))
        for index, record in enumerate(records, start=1):
            yield _values(index, record)

    return Export(title, [(title, COLUMNS, rows())], _count(query))


def own_filters(args):
    """The filters of a filer's own list: a status (anything else is all of them) and words of
    the product name."""
    status = args.get("status", "")
    return {"status": status if status in STATUS_LABELS else "", "q": Reader(args).text("q", max_length=60)}


def own_query(account, filters):
    """The records of the account's own unit (我的购销记录), whoever of the unit filed them,
    under own_filters: the list pages through it, its export writes all of it."""
    query = select(PurchaseRecord).where(PurchaseRecord.unit_id == account.unit_id).options(
        selectinload(PurchaseRecord.unit), selectinload(PurchaseRecord.period), selectinload(PurchaseRecord.category),
        selectinload(PurchaseRecord.measure_unit), selectinload(PurchaseRecord.origin_province),
        selectinload(PurchaseRecord.origin_city), selectinload(PurchaseRecord.origin_county))
    if filters["status"]:
        query = query.where(PurchaseRecord.status == filters["status"])
    if filters["q"]:
        query = query.where(PurchaseRecord.product_name.contains(filters["q"], autoescape=True))
    return query


@exporter("records.own", may=rules.may_file)
def own_export(account, args):
    """A filer's own list under its filters, newest first, as the page lists it."""
    query = own_query(account, own_filters(args))
    title = "我的购销记录"

    def rows():  # read only when written: a queued export's request reads no record
        records = db.session.scalars(query.order_by(PurchaseRecord.id.desc()).execution_options(yield_per=500))
        for index, record in enumerate(records, start=1):
            yield _values(index, record)

    return Export(title, [(title, COLUMNS, rows())], _count(query))


PERIOD_COLUMNS = [("名称", 28, None), ("年度", 8, "0"), ("类型", 22, None), ("状态", 10, None),
                  ("审核通过记录数", 14, "#,##0"), ("审核通过金额（元）", 20, MONEY)]


@exporter("records.periods", may=periods.may_manage_periods)
def periods_export(account, args):
    """Every reporting period, newest first, with its approved totals, as the page lists them."""
    title = "填报期"
    listed = periods.periods_with_totals()
    rows = ([period.name, period.year, period.fill_type_label, "开放" if period.open else "已关闭", count, amount]
            for period, count, amount in listed)
    return Export(title, [(title, PERIOD_COLUMNS, rows)], len(listed))


TOTAL_COLUMNS = [("项目", 44, None), ("记录数", 10, "#,##0"), ("金额（元）", 20, MONEY)]
#: the breakdowns of the totals page, in its order: (sheet title, key of the view)
TOTAL_SHEETS = [("按地级市", "by_city"), ("按渠道", "by_channel"), ("按品类", "by_category"),
                ("按填报类型", "by_period"), ("按产地省份", "by_province"), ("重点帮扶县", "key_counties"),
                ("按产地区县", "by_county")]


def totals_xlsx(view, title, filter_lines, *, with_cities=True):
    """The totals page as a workbook: the sum and the filters it follows, then a sheet per
    breakdown (without 按地级市 for a city office, whose view is its own city)."""
    count, amount = view["total"]
    summary = [["审核通过记录合计", count, amount]]
    conditions = [[label, value] for label, value in filter_lines]
    conditions.append(["导出时间", f"{to_china(utcnow()):%Y-%m-%d %H:%M}（北京时间）"])
    sheets = [("合计", TOTAL_COLUMNS, summary),
              ("筛选条件", [("条件", 16, None), ("内容", 44, None)], conditions)]
    sheets += [(name, TOTAL_COLUMNS, [list(row) for row in view[key]]) for name, key in TOTAL_SHEETS
               if with_cities or key != "by_city"]
    return xlsx_workbook_download(title, sheets)
