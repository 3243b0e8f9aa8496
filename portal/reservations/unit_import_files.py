"""The files the budget-unit import hands out: its template (序号 and the five columns it reads, a
bold frozen header, codes and phones as text, a sheet of instructions), and the person's own file
given back with an 错误原因 column."""
import io

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from portal import spreadsheet
from portal.reservations.unit_import import EXAMPLE_MARK, HEADERS, MAX_BYTES, SERIAL
from portal.spreadsheet import tables


def error_workbook(original_bytes, errors_by_row, limits=spreadsheet.Limits()):
    """The person's own file with an 错误原因 column beside each wrong row."""
    return tables.error_workbook(original_bytes, errors_by_row, columns=HEADERS, marker="name", limits=limits,
                                 max_bytes=MAX_BYTES)


TEMPLATE_COLUMNS = [
    (SERIAL, 8, None),
    ("单位名称", 36, None),
    ("统一社会信用代码", 24, "@"),
    ("上级预算单位", 30, None),
    ("联系人", 14, None),
    ("手机号码", 16, "@"),
]
TEMPLATE_EXAMPLE = [EXAMPLE_MARK, "广东省某某厅（示例行，导入时不读取）", "11440000MB2C92431Q", "",
                    "张三", "13800138000"]
TEMPLATE_NOTES = [
    "填写说明",
    "1. 每行一个预算单位；表头请勿修改，列的顺序可以调整，“序号”列可不填。",
    "2. 单位名称、统一社会信用代码、联系人、手机号码必填；联系人的手机号码即该单位管理员的登录账号。",
    "3. 上级预算单位（主管预算单位）选填：不填则直接隶属本财政部门；填写时须与本财政部门下已开通的预算单位名称完全一致，"
    "或与本文件中排在前面的单位名称完全一致。",
    "4. 一个手机号只能对应一个单位账号；统一社会信用代码为18位，请保持文本格式。",
    "5. 序号为“示例”的行不会导入，可以删除。",
    "6. 上传后系统先检查全部行并显示导入预览，点击“确认导入”后才开通；有任何一行有误时，所有单位都不会导入，"
    "系统会返回标注了“错误原因”的原文件，修改后重新上传即可。",
]
#: rows below the header pre-set to text for the code and phone columns
TEMPLATE_TEXT_ROWS = 500


def template_workbook():
    """The import template: 序号 and the five columns, bold frozen header, codes and phones as text."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "预算单位导入"
    for index, (header, width, number_format) in enumerate(TEMPLATE_COLUMNS, start=1):
        letter = get_column_letter(index)
        cell = sheet.cell(row=1, column=index, value=header)
        cell.font = Font(bold=True)
        sheet.column_dimensions[letter].width = width
        if number_format:
            sheet.column_dimensions[letter].number_format = number_format
            for row in range(2, TEMPLATE_TEXT_ROWS + 2):
                sheet.cell(row=row, column=index).number_format = number_format
    for index, value in enumerate(TEMPLATE_EXAMPLE, start=1):
        sheet.cell(row=2, column=index, value=value if value != "" else None)
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(TEMPLATE_COLUMNS))}1"

    notes = workbook.create_sheet("填写说明")
    notes.column_dimensions["A"].width = 110
    for index, line in enumerate(TEMPLATE_NOTES, start=1):
        cell = notes.cell(row=index, column=1, value=line)
        if index == 1:
            cell.font = Font(bold=True)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
