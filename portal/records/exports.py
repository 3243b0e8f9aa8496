"""Excel exports of record lists: Chinese headers, number formats, frozen bold header."""
import io

from flask import send_file
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font

from portal.clock import format_datetime, to_china, utcnow

HEADERS = ["序号", "记录编号", "填写单位", "渠道", "填报类型", "是否直接向原产地采购", "产地省份", "产地城市", "产地区县",
           "品类", "单位", "产品名称", "采购数量", "采购金额（元）", "状态", "提交时间"]
WIDTHS = [6, 10, 28, 12, 22, 12, 16, 14, 18, 10, 8, 20, 12, 16, 10, 18]


def _row(index, record):
    return [index, record.id, record.unit.name, record.channel_label, record.period.name if record.period else "",
            {True: "是", False: "否"}.get(record.direct_from_origin, ""),
            record.origin_province.name if record.origin_province else "",
            record.origin_city.name if record.origin_city else "",
            record.origin_county.name if record.origin_county else "",
            record.category.name if record.category else "", record.measure_unit.name if record.measure_unit else "",
            record.product_name or "", record.quantity, record.amount, record.status_label, format_datetime(record.submitted_at)]


def xlsx_response(records, title, *, max_rows):
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title)
    sheet.freeze_panes = "A2"
    for column, width in enumerate(WIDTHS, start=1):
        sheet.column_dimensions[chr(64 + column)].width = width
    sheet.auto_filter.ref = f"A1:{chr(64 + len(HEADERS))}1"
    header = []
    for text in HEADERS:
        cell = WriteOnlyCell(sheet, value=text)
        cell.font = Font(bold=True)
        header.append(cell)
    sheet.append(header)
    for index, record in enumerate(records, start=1):
        if index > max_rows:
            break
        values = _row(index, record)
        cells = []
        for position, value in enumerate(values):
            cell = WriteOnlyCell(sheet, value=value)
            if position == 12:
                cell.number_format = "#,##0.###"
            elif position == 13:
                cell.number_format = "#,##0.00"
            cells.append(cell)
        sheet.append(cells)
    buffer = io.BytesIO()
    workbook.save(buffer)
    buffer.seek(0)
    name = f"{title}-{to_china(utcnow()):%Y%m%d-%H%M}.xlsx"
    return send_file(buffer, as_attachment=True, download_name=name,
                     mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
