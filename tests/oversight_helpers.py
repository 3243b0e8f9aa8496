"""The oversight area's test data: credit codes for the tree's budget units, a county unit, final
2024 forms, and 832 statistics workbooks as the purchaser system exports them."""
import io
from datetime import datetime
from decimal import Decimal
from types import SimpleNamespace

from openpyxl import Workbook

from tests.factories import credit_code

HEADER = ["序号", "单位名称", "统一社会信用代码", "食堂食材采购金额（元）", "工会采购金额（元）", "统计截止日期"]

#: role -> (credit code, reserved canteen share, union expected) of its final 2024 form
BUDGET_UNITS = {
    "superior_budget": (credit_code("11440000MB2C92431"), Decimal("500000.00"), Decimal("0.00")),
    "budget_unit": (credit_code("12440000MB2C92442"), Decimal("300000.00"), Decimal("40000.00")),
    "gz_budget": (credit_code("11440100MB2C92453"), Decimal("200000.00"), Decimal("10000.00")),
    "county_budget": (credit_code("11440106MB2C92464"), Decimal("100000.00"), Decimal("0.00")),
}


def workbook(rows, header=HEADER):
    """An .xlsx with the header and rows (lists of cell values); the 序号 column is filled in."""
    book = Workbook()
    sheet = book.active
    sheet.append(["832平台采购人管理系统 预算单位采购统计"])
    sheet.append(header)
    for number, row in enumerate(rows, start=1):
        sheet.append([number, *row] if header and header[0] == "序号" else list(row))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def prepare_fulfilment(tree):
    """Credit codes on the tree's budget units, a county budget unit under 天河区财政局, and each
    unit's final 2024 form; returns {role: SimpleNamespace(unit_id, code, name)}. Call inside an
    app context; the caller commits."""
    from portal.accounts.kinds import UnitKind
    from portal.accounts.models import Account, Unit
    from portal.extensions import db
    from portal.reservations import scope
    from portal.reservations.models import Reservation
    from portal.reservations.policy import ensure_policy
    from tests.factories import open_unit

    ensure_policy(2024)
    county = db.session.get(Account, tree.county_finance.id)
    county_admin = open_unit(county, UnitKind.BUDGET_UNIT, "天河区教育局", "13700002111")
    units = {}
    for role, (code, reserved, union) in BUDGET_UNITS.items():
        account_id = county_admin.id if role == "county_budget" else getattr(tree, role).id
        unit = db.session.get(Account, account_id).unit
        unit.credit_code = code
        superior = scope.superior_of(unit)
        db.session.add(Reservation(
            unit_id=unit.id, year=2024, canteen_type="own", canteen_total=reserved * 4, ratio=Decimal("25.00"),
            reserved_amount=reserved, union_need=union > 0, union_total=union * 5 if union else None,
            union_ratio=Decimal("20.00") if union else None, union_expected=union if union else None,
            union_remark=None if union else "无工会采购需求", contact_name="李晓明", contact_mobile="13912345678",
            status="final", superior_id=superior.id if superior else None, finance_id=scope.finance_of(unit).id,
            submitted_at=datetime(2024, 2, 1), finalized_at=datetime(2024, 3, 1)))
        units[role] = SimpleNamespace(unit_id=unit.id, code=code, name=unit.name)
    db.session.flush()
    assert db.session.get(Unit, units["county_budget"].unit_id).parent_id == county.unit_id
    return units
