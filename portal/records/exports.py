"""Excel export of record lists: Chinese headers, number formats."""
from portal.clock import format_datetime
from portal.excel import xlsx_download

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
