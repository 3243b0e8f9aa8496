"""Budget units imported from an Excel sheet by their finance department.

Every row is checked before anything is written: one wrong row and nothing is opened, and
the person gets their own file back with an 错误原因 column (DESIGN section 4). A good file is
first previewed (preview_budget_units: what each row will become, nothing written), then
imported (import_budget_units), which checks every row again against the units as they are
then, and opens every unit through `accounts.service.open_unit`, so each unit gets its admin
account and its audit row exactly as when it is opened by hand. Nothing here reads the request.
"""
import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import select

from portal import audit, spreadsheet
from portal.spreadsheet import tables
from portal.accounts import rules, service
from portal.accounts.kinds import AccountRole, UnitKind
from portal.accounts.models import Unit, mask_phone
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
#: what the header row is read with: the columns, and 序号 (for the example row)
HEADERS = {**COLUMNS, SERIAL: "serial"}
#: the 序号 of the template's example row, which an import skips
EXAMPLE_MARK = "示例"
MAX_ROWS = 2000
MAX_BYTES = 5 * 1024 * 1024
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


#: what the import does with a good row, as its preview says it (in the order of the counts)
PLAN_LABELS = {
    "new_head": "新开通·主管预算单位",
    "new_direct": "新开通·直属本财政部门",
    "under_existing": "新开通·隶属已开通单位",
    "under_file": "新开通·隶属本文件中的单位",
}


@dataclass
class PlannedRow:
    """A good row and what the import will make of it: every row opens a new unit with its
    admin account; what differs is where the unit stands in the tree."""
    row: ImportRow
    #: a key of PLAN_LABELS
    kind: str
    #: the unit's superior: an existing Unit, an ImportRow of this file, or None (under finance)
    superior: object = None

    @property
    def label(self):
        return PLAN_LABELS[self.kind]

    @property
    def masked_phone(self):
        return mask_phone(normalize_mobile(self.row.phone))

    @property
    def superior_key(self):
        if isinstance(self.superior, ImportRow):
            return f"row:{self.superior.number}"
        return f"unit:{self.superior.id}" if self.superior is not None else ""


@dataclass
class ImportResult:
    rows: list = field(default_factory=list)
    #: Excel row number -> the Chinese messages of that row
    errors: dict = field(default_factory=dict)
    #: what each row will become, in file order (empty when any row is wrong)
    plan: list = field(default_factory=list)
    #: the units opened, in file order (empty when any row is wrong, and in a preview)
    opened: list = field(default_factory=list)
    #: the units changed since the plan the person confirmed: nothing was opened
    plan_changed: bool = False

    @property
    def ok(self):
        return not self.errors

    def wrong_rows(self):
        """(row, messages) for each wrong row, in file order."""
        return [(row, self.errors[row.number]) for row in self.rows if row.number in self.errors]

    def counts(self):
        """(label, rows) for each kind of change the plan holds, in PLAN_LABELS order."""
        counted = Counter(planned.kind for planned in self.plan)
        return [(label, counted[kind]) for kind, label in PLAN_LABELS.items() if counted[kind]]

    @property
    def fingerprint(self):
        """What the plan does, as 32 hex digits: a commit goes ahead only on the plan previewed."""
        facts = [[p.row.number, p.kind, p.superior_key] for p in self.plan]
        return hashlib.sha256(json.dumps(facts).encode()).hexdigest()[:32]


def may_import(account):
    """A finance department's admin: it opens the budget units of its level."""
    return account.unit.kind == UnitKind.FINANCE and rules.may_open(account, UnitKind.BUDGET_UNIT)


# --- reading ------------------------------------------------------------------------------------

def sheet_values(workbook_bytes, limits, formulas=False):
    """The first sheet's rows, read within `limits` (portal.spreadsheet: no bomb gets through)."""
    return tables.sheet_values(workbook_bytes, limits, max_bytes=MAX_BYTES, formulas=formulas)


def read_rows(workbook_bytes, limits=spreadsheet.Limits()):
    """The data rows of the first sheet as ImportRow, blank rows and the example row left out."""
    values = sheet_values(workbook_bytes, limits)
    header_index, columns = tables.find_header(values, HEADERS, "name")
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
        if tables.cell_text(cell(values_row, "serial")) == EXAMPLE_MARK:
            continue
        raw = {key: cell(values_row, key) for key in COLUMNS.values()}
        if all(tables.cell_text(v) == "" for v in raw.values()):
            continue
        credit = raw["credit_code"]
        rows.append(ImportRow(
            number=offset,
            name=tables.cell_text(raw["name"]),
            credit_code=tables.cell_text(credit).upper(),
            superior=tables.cell_text(raw["superior"]),
            contact_name=tables.cell_text(raw["contact_name"]),
            phone=tables.cell_text(raw["phone"]),
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


def plan_rows(rows, superiors):
    """What each good row will become (check_rows gave its superior)."""
    with_subordinates = {s.number for s in superiors.values() if isinstance(s, ImportRow)}
    plan = []
    for row in rows:
        superior = superiors[row.number]
        if isinstance(superior, ImportRow):
            kind = "under_file"
        elif superior is not None:
            kind = "under_existing"
        else:
            kind = "new_head" if row.number in with_subordinates else "new_direct"
        plan.append(PlannedRow(row, kind, superior))
    return plan


def preview_budget_units(actor, workbook_bytes, limits=spreadsheet.Limits()):
    """What importing the sheet would do, row by row; writes nothing.

    A file that cannot be read raises ValidationFailed({"file": ...}); wrong rows come back in
    `ImportResult.errors`, or else what each row will become in `ImportResult.plan`.
    """
    if not may_import(actor):
        audit.record("units_imported", actor=actor, result="denied")
        raise PermissionDenied("只有财政部门管理员可以导入预算单位")
    result = ImportResult(rows=read_rows(workbook_bytes, limits))
    result.errors, superiors = check_rows(actor.unit, result.rows)
    if not result.errors:
        result.plan = plan_rows(result.rows, superiors)
    return result


# --- importing ----------------------------------------------------------------------------------

def import_budget_units(actor, workbook_bytes, limits=spreadsheet.Limits(), expected_plan=None):
    """Check every row of the sheet again, then open every unit or none.

    A file that cannot be read raises ValidationFailed({"file": ...}). Wrong rows come back in
    `ImportResult.errors` with nothing added to the session; so does a plan that is no longer
    the `expected_plan` fingerprint the person previewed (`plan_changed`, nothing opened). The
    caller commits a good result.
    """
    result = preview_budget_units(actor, workbook_bytes, limits)
    if result.errors:
        return result
    if expected_plan is not None and expected_plan != result.fingerprint:
        result.plan_changed = True
        return result

    opened_by_row = {}
    for row, superior in ((planned.row, planned.superior) for planned in result.plan):
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
    audit.record("units_imported", actor=actor, object_ref=f"unit:{actor.unit_id}",
                 detail={"count": len(result.opened), "units": [u.id for u in result.opened]})
    return result
