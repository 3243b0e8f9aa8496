"""Budget units imported from an Excel sheet by their finance department.

Every row is checked before anything is written: one wrong row and nothing is opened, and
the person gets their own file back with an 错误原因 column (DESIGN section 4). A good file
opens every unit through `accounts.service.open_unit`, so each unit gets its admin account
and its audit row exactly as when it is opened by hand. Nothing here reads the request.
"""
import io
from dataclasses import dataclass, field
from datetime import date, datetime

from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from sqlalchemy import select

from portal import audit, spreadsheet
from portal.accounts import rules, service
from portal.accounts.kinds import AccountRole, UnitKind
from portal.accounts.models import Unit
from portal.accounts.validators import normalize_credit_code, normalize_mobile
from portal.errors import PermissionDenied, ValidationFailed
from portal.extensions import db
from portal.reservations import queries

#: header text -> the key a row is read into; 序号 and unknown columns (错误原因) are ignored
COLUMNS = {
    "单位名称": "name",
    "统一社会信用代码": "credit_code",
    "上级预算单位": "superior",
    "联系人": "contact_name",
    "手机号码": "phone",
}
SERIAL = "序号"
ERROR_HEADER = "错误原因"
#: the 序号 of the template's example row, which an import skips
EXAMPLE_MARK = "示例"
#: rows looked at for the header, for sheets with a title line above it
HEADER_SEARCH_ROWS = 10
MAX_ROWS = 2000
MAX_BYTES = 5 * 1024 * 1024
#: light red, as Excel's own "bad" cell style
ERROR_FILL = PatternFill(fill_type="solid", start_color="FFFFC7CE", end_color="FFFFC7CE")
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass
class ImportRow:
    #: the row's number in Excel (the header is usually row 1)
    number: int
    name: str
    credit_code: str
    superior: str
    contact_name: str
    phone: str
    #: credit code as a number that Excel has rounded (more than 15 digits)
    credit_code_rounded: bool = False


@dataclass
class ImportResult:
    rows: list = field(default_factory=list)
    #: Excel row number -> the Chinese messages of that row
    errors: dict = field(default_factory=dict)
    #: the units opened, in file order (empty when any row is wrong)
    opened: list = field(default_factory=list)

    @property
    def ok(self):
        return not self.errors

    def wrong_rows(self):
        """(row, messages) for each wrong row, in file order."""
        return [(row, self.errors[row.number]) for row in self.rows if row.number in self.errors]


def may_import(account):
    """A finance department's admin: it opens the budget units of its level."""
    return account.unit.kind == UnitKind.FINANCE and rules.may_open(account, UnitKind.BUDGET_UNIT)


# --- reading ------------------------------------------------------------------------------------

def _text(value):
    """A cell as the text a person typed: numbers Excel made of codes and phones come back whole."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value).strip()


def _header_key(value):
    """单位名称, ' 单位名称* ' and 单位名称（必填） all name the same column."""
    text = _text(value).replace(" ", "").replace("\u3000", "").replace("*", "").replace("＊", "")
    for bracket in ("（", "("):
        text = text.split(bracket)[0]
    return text


def _find_header(rows):
    """(index in `rows`, {key: column index}) of the first row naming 单位名称, or (None, {})."""
    for index, values in enumerate(rows[:HEADER_SEARCH_ROWS]):
        keys = [_header_key(v) for v in values]
        if "单位名称" in keys:
            columns = {}
            for position, key in enumerate(keys):
                if key in COLUMNS and COLUMNS[key] not in columns:
                    columns[COLUMNS[key]] = position
                elif key == SERIAL:
                    columns.setdefault("serial", position)
            return index, columns
    return None, {}


def _sheet_values(workbook_bytes, limits, formulas=False):
    """The first sheet's rows, read within `limits` (portal.spreadsheet: no bomb gets through)."""
    if not workbook_bytes:
        raise ValidationFailed({"file": "请选择要导入的Excel文件"})
    if len(workbook_bytes) > MAX_BYTES:
        raise ValidationFailed({"file": f"文件不能超过{MAX_BYTES // 1024 // 1024}MB"})
    try:
        return spreadsheet.read_rows(workbook_bytes, limits, formulas=formulas)
    except spreadsheet.WorkbookRefused as refused:
        raise ValidationFailed({"file": refused.message}) from None


def read_rows(workbook_bytes, limits=spreadsheet.Limits()):
    """The data rows of the first sheet as ImportRow, blank rows and the example row left out."""
    values = _sheet_values(workbook_bytes, limits)
    header_index, columns = _find_header(values)
    if header_index is None:
        raise ValidationFailed({"file": "第一个工作表中找不到表头“单位名称”，请使用导入模板"})
    missing = [header for header, key in COLUMNS.items() if key not in columns]
    if missing:
        raise ValidationFailed({"file": "表头缺少以下列：" + "、".join(missing) + "（请使用导入模板）"})

    def cell(values_row, key):
        position = columns.get(key)
        return values_row[position] if position is not None and position < len(values_row) else None

    rows = []
    for offset, values_row in enumerate(values[header_index + 1:], start=header_index + 2):
        if _text(cell(values_row, "serial")) == EXAMPLE_MARK:
            continue
        raw = {key: cell(values_row, key) for key in COLUMNS.values()}
        if all(_text(v) == "" for v in raw.values()):
            continue
        credit = raw["credit_code"]
        rows.append(ImportRow(
            number=offset,
            name=_text(raw["name"]),
            credit_code=_text(credit).upper(),
            superior=_text(raw["superior"]),
            contact_name=_text(raw["contact_name"]),
            phone=_text(raw["phone"]),
            credit_code_rounded=isinstance(credit, float) and abs(credit) >= 1e15,
        ))
        if len(rows) > MAX_ROWS:
            raise ValidationFailed({"file": f"一次最多导入{MAX_ROWS}个单位，请分批导入"})
    if not rows:
        raise ValidationFailed({"file": "文件中没有要导入的单位（表头下面是空的）"})
    return rows


# --- checking -----------------------------------------------------------------------------------

def _units_under(finance):
    """Every budget unit whose finance department is this one, at any depth."""
    return queries.finance_units(finance)


def _first_admin(unit):
    return next((a for a in unit.accounts if a.role == AccountRole.ADMIN and a.active), None)


def check_rows(finance, rows):
    """Errors by Excel row number; also the superior of each row, an existing Unit or an ImportRow."""
    active_units = [u for u in _units_under(finance) if u.active]
    existing_by_name = {}
    for unit in active_units:
        existing_by_name.setdefault(unit.name, []).append(unit)
    later_names = {row.name for row in rows if row.name}

    errors, superiors = {}, {}
    seen_names, seen_codes, seen_phones = {}, {}, {}
    for row in rows:
        messages = []
        # 单位名称
        if not row.name:
            messages.append("请填写单位名称")
        elif len(row.name) > service.NAME_MAX:
            messages.append(f"单位名称不能超过{service.NAME_MAX}个字")
        elif row.name in seen_names:
            messages.append(f"单位名称与第{seen_names[row.name]}行重复")
        elif row.name in existing_by_name:
            messages.append("本财政部门下已有同名的预算单位")
        # 统一社会信用代码
        code = normalize_credit_code(row.credit_code) if row.credit_code else None
        if not row.credit_code:
            messages.append("请填写统一社会信用代码")
        elif row.credit_code_rounded:
            messages.append("统一社会信用代码被Excel改成了数字，请把该列设为文本格式后重新填写")
        elif code is None:
            messages.append("统一社会信用代码不正确（应为18位，且校验位正确）")
        elif code in seen_codes:
            messages.append(f"统一社会信用代码与第{seen_codes[code]}行重复")
        elif db.session.scalar(select(Unit.id).where(Unit.credit_code == code)) is not None:
            messages.append("该统一社会信用代码已登记")
        # 上级预算单位
        superior = None
        if row.superior:
            if row.superior == row.name:
                messages.append("上级预算单位不能是本单位")
            elif row.superior in seen_names:
                superior = next(r for r in rows if r.number == seen_names[row.superior])
            elif row.superior in existing_by_name:
                matches = existing_by_name[row.superior]
                if len(matches) > 1:
                    messages.append(f"本财政部门下有多个名为“{row.superior}”的预算单位，无法确定上级")
                elif _first_admin(matches[0]) is None:
                    messages.append(f"上级预算单位“{row.superior}”没有可用的管理员账号")
                else:
                    superior = matches[0]
            elif row.superior in later_names:
                messages.append(f"上级预算单位“{row.superior}”排在本行之后，请把上级单位放在前面")
            else:
                messages.append(f"上级预算单位“{row.superior}”不存在（须为本财政部门下已开通的预算单位或本文件中靠前的单位）")
        superiors[row.number] = superior
        # 联系人, 手机号码
        if not row.contact_name:
            messages.append("请填写联系人姓名")
        elif len(row.contact_name) > service.CONTACT_MAX:
            messages.append(f"联系人姓名不能超过{service.CONTACT_MAX}个字")
        mobile = normalize_mobile(row.phone)
        if not row.phone:
            messages.append("请填写手机号码")
        elif mobile is None:
            messages.append("手机号码格式不正确，请输入11位大陆手机号")
        elif mobile in seen_phones:
            messages.append(f"手机号码与第{seen_phones[mobile]}行重复（一个手机号只能对应一个单位账号）")
        elif service.phone_taken(mobile):
            messages.append("该手机号已开通账号（一个手机号只能对应一个单位账号）")

        if row.name and row.name not in seen_names:
            seen_names[row.name] = row.number
        if code and code not in seen_codes:
            seen_codes[code] = row.number
        if mobile and mobile not in seen_phones:
            seen_phones[mobile] = row.number
        if messages:
            errors[row.number] = messages
    return errors, superiors


# --- importing ----------------------------------------------------------------------------------

def import_budget_units(actor, workbook_bytes, limits=spreadsheet.Limits()):
    """Check every row of the sheet, then open every unit or none.

    A file that cannot be read raises ValidationFailed({"file": ...}). Wrong rows come back in
    `ImportResult.errors` with nothing added to the session. The caller commits a good result.
    """
    if not may_import(actor):
        audit.record("units_imported", actor=actor, result="denied")
        raise PermissionDenied("只有财政部门管理员可以导入预算单位")
    finance = actor.unit
    result = ImportResult(rows=read_rows(workbook_bytes, limits))
    result.errors, superiors = check_rows(finance, result.rows)
    if result.errors:
        return result

    opened_by_row = {}
    for row in result.rows:
        superior = superiors[row.number]
        if superior is None:
            opener = actor
        elif isinstance(superior, ImportRow):
            opener = opened_by_row[superior.number].accounts[0]
        else:
            opener = _first_admin(superior)
        try:
            unit = service.open_unit(opener, kind=UnitKind.BUDGET_UNIT, name=row.name,
                                     contact_name=row.contact_name, phone=row.phone,
                                     credit_code=row.credit_code)
        except (ValidationFailed, PermissionDenied) as failed:
            # Checked above, so only a concurrent change gets here: undo this import's units.
            db.session.rollback()
            messages = (list(failed.errors.values()) if isinstance(failed, ValidationFailed)
                        else [failed.message])
            result.errors = {row.number: messages}
            result.opened = []
            return result
        # The finance department opened it, whichever account stood as the parent.
        unit.created_by_id = actor.id
        unit.accounts[0].created_by_id = actor.id
        opened_by_row[row.number] = unit
        result.opened.append(unit)
    db.session.flush()
    audit.record("units_imported", actor=actor, object_ref=f"unit:{finance.id}",
                 detail={"count": len(result.opened), "units": [u.id for u in result.opened]})
    return result


# --- files --------------------------------------------------------------------------------------

def error_workbook(original_bytes, errors_by_row, limits=spreadsheet.Limits()):
    """The person's own file with an 错误原因 column: each wrong row's messages and a light red fill.

    A file sent back with an 错误原因 column already (a corrected error file) reuses it.
    """
    # formulas as typed, so that the new column lands right of every cell, computed or not
    values = _sheet_values(original_bytes, limits, formulas=True)
    header_index, _ = _find_header(values)
    header_row = (header_index or 0) + 1
    header = values[header_row - 1] if len(values) >= header_row else ()
    existing = next((i for i, v in enumerate(header, start=1) if _header_key(v) == ERROR_HEADER), None)
    try:
        return spreadsheet.annotated_copy(
            original_bytes, header_row=header_row, column=existing or max(map(len, values), default=0) + 1,
            header=ERROR_HEADER, notes={n: "；".join(m) for n, m in errors_by_row.items()}, fill=ERROR_FILL,
            clear_fill=existing is not None, limits=limits)
    except spreadsheet.WorkbookRefused as refused:
        raise ValidationFailed({"file": refused.message}) from None


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
    "6. 有任何一行有误时，所有单位都不会导入；系统会返回标注了“错误原因”的原文件，修改后重新上传即可。",
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
