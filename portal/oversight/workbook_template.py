"""The import template: the columns of the 832 purchaser system's statistics export."""
import io

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

COLUMNS = [("序号", 8, None), ("单位名称", 36, None), ("统一社会信用代码", 24, "@"),
           ("食堂食材采购金额（元）", 20, "#,##0.00"), ("工会采购金额（元）", 18, "#,##0.00"),
           ("统计截止日期", 14, "yyyy-mm-dd")]
NOTES = [
    "填写说明",
    "1. 可直接上传832平台采购人管理系统导出的预算单位采购统计表，表头须包含：单位名称、统一社会信用代码、食堂食材采购金额、工会采购金额。",
    "2. 金额为当年1月1日至统计截止日期的累计采购金额（元），空白按0计。",
    "3. 按统一社会信用代码匹配系统中的预算单位，单位名称仅用于核对；名称不一致时会在预览中提示。",
    "4. “统计截止日期”列可不填，在导入页面填写即可；填写时须与导入页面的日期一致。",
    "5. 导入前会先预览将要导入的数据；有任何一行有误时不会导入，系统会返回标注了“错误原因”的原文件。",
    "6. 每次导入都会按统计截止日期保留，用于查看全年的完成进度。",
]


def template_workbook():
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "832平台采购统计"
    for index, (header, width, number_format) in enumerate(COLUMNS, start=1):
        letter = get_column_letter(index)
        sheet.cell(row=1, column=index, value=header).font = Font(bold=True)
        sheet.column_dimensions[letter].width = width
        if number_format:
            sheet.column_dimensions[letter].number_format = number_format
    sheet.freeze_panes = "A2"
    notes = workbook.create_sheet("填写说明")
    notes.column_dimensions["A"].width = 120
    for index, line in enumerate(NOTES, start=1):
        notes.cell(row=index, column=1, value=line).font = Font(bold=index == 1)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
