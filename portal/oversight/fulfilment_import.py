"""The 832 purchaser system's statistics export, imported by a finance department.

A workbook lists, per budget unit, what it bought on the 832 platform since 1 January: for its
canteen and for its union. Rows are matched by 统一社会信用代码 (the name is only a hint, shown
when it differs). Nothing is written until every row is right and the person has seen the
preview; a wrong row sends the person's own file back with an 错误原因 column, as the budget-unit
import does. Every import is kept with its as-of date: a series over the year, never an
overwrite. Nothing here reads the request.
"""
import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from sqlalchemy import func, select

from portal import audit, spreadsheet
from portal.spreadsheet import tables
from portal.accounts.kinds import UnitKind
from portal.accounts.models import Unit
from portal.accounts.validators import normalize_credit_code
from portal.errors import PermissionDenied, ValidationFailed
from portal.extensions import db
from portal.oversight.models import FulfilmentImport, FulfilmentLine
from portal.oversight.scope import OrgMap, is_overseer

#: header (spaces, '*' and a bracketed unit such as （元） removed) -> the key a row is read into
COLUMNS = {
    "单位名称": "name", "预算单位名称": "name", "采购单位名称": "name",
    "统一社会信用代码": "credit_code", "信用代码": "credit_code",
    "食堂食材采购金额": "canteen", "食堂采购金额": "canteen", "食堂食材采购额": "canteen",
    "工会采购金额": "union", "工会采购额": "union",
    "统计截止日期": "as_of", "截止日期": "as_of", "统计日期": "as_of",
}
REQUIRED = {"name": "单位名称", "credit_code": "统一社会信用代码", "canteen": "食堂食材采购金额",
            "union": "工会采购金额"}
#: a province's budget units in one file
MAX_ROWS = 30_000
MAX_BYTES = 5 * 1024 * 1024
LIMITS = spreadsheet.Limits(max_rows=MAX_ROWS + tables.HEADER_SEARCH_ROWS, max_unpacked_mb=60)
#: 10^14 元: larger is a typing error, and beyond the columns' precision
MAX_AMOUNT = Decimal("99999999999999.99")


@dataclass
class PlannedLine:
    number: int
    name: str
    credit_code: str
    canteen: Decimal | None = None
    union: Decimal | None = None
    #: the matched budget unit (scope.Node)
    unit: object = None
    #: the unit's latest earlier figures of the year: (as_of, canteen, union) or None
    previous: tuple | None = None
    warnings: list = field(default_factory=list)

    @property
    def is_new(self):
        return self.previous is None


@dataclass
class ImportPlan:
    year: int
    as_of: date | None
    lines: list = field(default_factory=list)
    #: Excel row number -> Chinese messages
    errors: dict = field(default_factory=dict)

    @property
    def ok(self):
        return not self.errors

    @property
    def canteen_total(self):
        return sum((line.canteen for line in self.lines if line.canteen is not None), Decimal("0"))

    @property
    def union_total(self):
        return sum((line.union for line in self.lines if line.union is not None), Decimal("0"))

    @property
    def warned(self):
        return [line for line in self.lines if line.warnings]

    def wrong_rows(self):
        return [(line, self.errors[line.number]) for line in self.lines if line.number in self.errors]


def may_import(account):
    return is_overseer(account)


# --- reading ------------------------------------------------------------------------------------

def _sheet_values(data, formulas=False):
    return tables.sheet_values(data, LIMITS, max_bytes=MAX_BYTES, formulas=formulas)


def _amount(value, label, messages):
    """A cell as 元 to the fen: blank is 0; text like "1,234.50" is read; anything else is refused."""
    if value is None or tables.cell_text(value) == "":
        return Decimal("0.00")
    if isinstance(value, bool):
        messages.append(f"{label}应为金额")
        return None
    text = tables.cell_text(value).replace(",", "").replace("，", "").replace("元", "").replace("¥", "").replace("￥", "")
    try:
        amount = Decimal(str(value) if isinstance(value, int | float) else text)
    except InvalidOperation:
        messages.append(f"{label}应为金额（数字）")
        return None
    if not amount.is_finite():
        messages.append(f"{label}应为金额（数字）")
        return None
    if amount < 0:
        messages.append(f"{label}不能为负数")
        return None
    if amount > MAX_AMOUNT:
        messages.append(f"{label}过大，请核对")
        return None
    rounded = amount.quantize(Decimal("0.01"))
    if rounded != amount and isinstance(value, str):
        messages.append(f"{label}最多保留两位小数")
        return None
    return rounded


def _date(value):
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = tables.cell_text(value).replace("/", "-").replace(".", "-").replace("年", "-").replace("月", "-").rstrip("日")
    try:
        return date.fromisoformat("-".join(part.zfill(2) for part in text.split("-")))
    except ValueError:
        return None


def read_lines(data):
    """(lines, their as-of dates by row number) of the first sheet; blank rows left out."""
    values = _sheet_values(data)
    header_index, columns = tables.find_header(values, COLUMNS, "credit_code")
    if header_index is None:
        raise ValidationFailed({"file": "第一个工作表中找不到表头“统一社会信用代码”，请使用832平台的统计导出或本页的模板"})
    missing = [label for key, label in REQUIRED.items() if key not in columns]
    if missing:
        raise ValidationFailed({"file": "表头缺少以下列：" + "、".join(missing)})

    def cell(row, key):
        position = columns.get(key)
        return row[position] if position is not None and position < len(row) else None

    lines, raw = [], {}
    for number, row in enumerate(values[header_index + 1:], start=header_index + 2):
        cells = {key: cell(row, key) for key in columns}
        if all(tables.cell_text(v) == "" for v in cells.values()):
            continue
        code = cells.get("credit_code")
        lines.append(PlannedLine(number=number, name=tables.cell_text(cells.get("name"))[:100],
                                 credit_code=tables.cell_text(code).upper()[:40]))
        raw[number] = cells
    if not lines:
        raise ValidationFailed({"file": "文件中没有数据行（表头下面是空的）"})
    if len(lines) > MAX_ROWS:
        raise ValidationFailed({"file": f"一次最多导入{MAX_ROWS}个单位，请分批导入"})
    return lines, raw


# --- checking -----------------------------------------------------------------------------------

def _previous_figures(unit_ids, year, as_of):
    """unit id -> (as_of, canteen, union) of its latest line of the year dated on or before as_of."""
    if not unit_ids:
        return {}
    latest = (select(FulfilmentLine.unit_id, func.max(FulfilmentLine.as_of).label("as_of"))
              .where(FulfilmentLine.year == year, FulfilmentLine.as_of <= as_of,
                     FulfilmentLine.unit_id.in_(unit_ids))
              .group_by(FulfilmentLine.unit_id).subquery())
    rows = db.session.execute(
        select(FulfilmentLine.unit_id, FulfilmentLine.as_of, FulfilmentLine.canteen_amount,
               FulfilmentLine.union_amount)
        .join(latest, (latest.c.unit_id == FulfilmentLine.unit_id) & (latest.c.as_of == FulfilmentLine.as_of))
        # a day from 1 January to 31 March can hold lines of this year and of the year before
        .where(FulfilmentLine.year == year)
        .order_by(FulfilmentLine.id))
    return {row.unit_id: (row.as_of, row.canteen_amount, row.union_amount) for row in rows}


def _check_dates(plan, raw, as_of):
    """The import's as-of date: the one given, or the one every row's 统计截止日期 agrees on."""
    dates = {}
    for line in plan.lines:
        value = raw[line.number].get("as_of")
        if value is None or tables.cell_text(value) == "":
            continue
        parsed = _date(value)
        if parsed is None:
            plan.errors.setdefault(line.number, []).append("统计截止日期不是日期")
        else:
            dates[line.number] = parsed
    if as_of is None:
        distinct = set(dates.values())
        if len(distinct) != 1:
            raise ValidationFailed({"as_of": "请填写统计截止日期（文件中没有统一的统计截止日期）"})
        as_of = distinct.pop()
    for number, parsed in dates.items():
        if parsed != as_of:
            plan.errors.setdefault(number, []).append(f"统计截止日期{parsed.isoformat()}与本次导入的{as_of.isoformat()}不一致")
    return as_of


def _check_as_of(year, as_of, today):
    if as_of > today:
        raise ValidationFailed({"as_of": "统计截止日期不能晚于今天"})
    if as_of < date(year, 1, 1) or as_of > date(year + 1, 3, 31):
        raise ValidationFailed({"as_of": f"{year}年度的统计截止日期应在{year}年1月1日至{year + 1}年3月31日之间"})


def plan_import(actor, data, *, year, as_of, today):
    """Read and check the workbook: the plan of what an import would write, nothing written."""
    if not may_import(actor):
        raise PermissionDenied("只有财政部门可以导入832平台采购数据")
    lines, raw = read_lines(data)
    plan = ImportPlan(year=year, as_of=None, lines=lines)
    plan.as_of = _check_dates(plan, raw, as_of)
    _check_as_of(year, plan.as_of, today)

    org = OrgMap()
    mine = org.finance_subtree(actor.unit_id)
    codes = {line.credit_code for line in lines if line.credit_code}
    normalized = {code: normalize_credit_code(code) for code in codes}
    units_by_code = {}
    valid = [c for c in normalized.values() if c]
    for start in range(0, len(valid), 900):
        for unit_id, code in db.session.execute(select(Unit.id, Unit.credit_code).where(
                Unit.credit_code.in_(valid[start:start + 900]), Unit.kind == UnitKind.BUDGET_UNIT)):
            units_by_code[code] = org.nodes.get(unit_id)
    names_in_scope = {}
    for node in org.units_of(mine, active_only=False):
        names_in_scope.setdefault(node.name, []).append(node)

    seen = {}
    for line in lines:
        messages = plan.errors.setdefault(line.number, [])
        line.canteen = _amount(raw[line.number].get("canteen"), "食堂食材采购金额", messages)
        line.union = _amount(raw[line.number].get("union"), "工会采购金额", messages)
        code = normalized.get(line.credit_code)
        hint = names_in_scope.get(line.name, [])
        if not line.credit_code:
            messages.append("请填写统一社会信用代码")
        elif code is None:
            messages.append("统一社会信用代码不正确（应为18位，且校验位正确）")
        elif code in seen:
            messages.append(f"统一社会信用代码与第{seen[code]}行重复")
        elif code not in units_by_code or units_by_code[code] is None:
            messages.append("系统中没有该统一社会信用代码的预算单位"
                            + (f"（同名单位“{line.name}”已登记，请核对信用代码）" if hint else ""))
        elif org.finance_of(units_by_code[code].id) not in mine:
            messages.append("该单位不属于本财政部门或下级财政部门")
        else:
            line.unit = units_by_code[code]
            if line.name and line.name != line.unit.name:
                line.warnings.append(f"名称与系统登记的“{line.unit.name}”不一致（已按信用代码匹配）")
            if not line.unit.active:
                line.warnings.append("该单位已撤销或合并")
        if code and code not in seen:
            seen[code] = line.number
        if not messages:
            del plan.errors[line.number]

    previous = _previous_figures([line.unit.id for line in lines if line.unit is not None], year, plan.as_of)
    for line in lines:
        if line.unit is None or line.number in plan.errors:
            continue
        line.previous = previous.get(line.unit.id)
        if line.previous and (line.canteen < line.previous[1] or line.union < line.previous[2]):
            line.warnings.append(f"累计金额低于{line.previous[0].isoformat()}导入的数据，请核对")
    return plan


# --- committing ---------------------------------------------------------------------------------

def commit_import(actor, plan, *, filename, data):
    """Write a checked plan as one import and its lines; the caller commits."""
    if not plan.ok:
        raise ValueError("an import with wrong rows is never written")
    record = FulfilmentImport(
        finance_id=actor.unit_id, year=plan.year, as_of=plan.as_of, filename=(filename or "832.xlsx")[:200],
        sha256=hashlib.sha256(data).hexdigest(), line_count=len(plan.lines), canteen_total=plan.canteen_total,
        union_total=plan.union_total, created_by_id=actor.id)
    db.session.add(record)
    db.session.flush()
    db.session.execute(FulfilmentLine.__table__.insert(), [
        {"import_id": record.id, "unit_id": line.unit.id, "year": plan.year, "as_of": plan.as_of,
         "canteen_amount": line.canteen, "union_amount": line.union,
         "listed_name": line.name if line.name and line.name != line.unit.name else None}
        for line in plan.lines])
    audit.record("fulfilment_imported", actor=actor, object_ref=f"fulfilment_import:{record.id}",
                 detail={"year": plan.year, "as_of": plan.as_of.isoformat(), "lines": len(plan.lines),
                         "canteen_total": str(plan.canteen_total), "union_total": str(plan.union_total)})
    return record


def error_workbook(data, errors_by_row):
    """The person's own file with an 错误原因 column beside each wrong row."""
    return tables.error_workbook(data, errors_by_row, columns=COLUMNS, marker="credit_code", limits=LIMITS,
                                 max_bytes=MAX_BYTES)
