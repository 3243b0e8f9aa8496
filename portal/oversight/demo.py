"""Demo data for oversight: a year of 832 purchases for the demo budget units (monthly imports by
the province finance department, some units complete, some far behind) and the reminders the
finance department sent about them. Loaded by `flask demo` after the workflows' demo data."""
import calendar
import io
from datetime import date, datetime, timedelta
from decimal import Decimal

from openpyxl import Workbook
from sqlalchemy import select
from stdnum.cn import uscc

from portal import reminders
from portal.accounts.kinds import UnitKind
from portal.accounts.models import Account, Unit
from portal.accounts.validators import normalize_credit_code
from portal.clock import china_day_start, to_china, utcnow
from portal.extensions import db
from portal.oversight import fulfilment_import, reminding
from portal.reservations.models import Reservation
from portal.reservations.states import FINAL

#: how far along its reserved share each unit is by December, in turn: some done, some far behind
PACES = (Decimal("1.08"), Decimal("0.92"), Decimal("0.55"), Decimal("0.18"), Decimal("0.75"), Decimal("1.0"))
PROVINCE_FINANCE_PHONE = "13900000001"


def _workbook(rows):
    book = Workbook()
    sheet = book.active
    sheet.append(["单位名称", "统一社会信用代码", "食堂食材采购金额（元）", "工会采购金额（元）"])
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _give_credit_codes():
    """Budget units opened by hand in the demo have no 统一社会信用代码; the 832 export needs one."""
    for unit in db.session.scalars(select(Unit).where(Unit.kind == UnitKind.BUDGET_UNIT,
                                                      Unit.credit_code.is_(None)).order_by(Unit.id)):
        base = f"11440000{unit.id:09d}"
        unit.credit_code = normalize_credit_code(base + uscc.calc_check_digit(base))
    db.session.flush()


def build_demo_oversight(now=None):
    """Monthly 832 imports for the newest year whose forms finance has confirmed, then reminders
    to the units behind. Returns the number of imports made."""
    now = now or utcnow()
    today = to_china(now).date()
    _give_credit_codes()
    finance = db.session.scalar(select(Account).where(Account.with_phone(PROVINCE_FINANCE_PHONE)))
    year = db.session.scalar(select(Reservation.year).where(Reservation.status == FINAL)
                             .order_by(Reservation.year.desc()).limit(1))
    if finance is None or year is None:
        return 0
    forms = db.session.execute(select(Unit, Reservation).join(Reservation, Reservation.unit_id == Unit.id)
                               .where(Reservation.year == year, Reservation.status == FINAL).order_by(Unit.id)).all()
    made = 0
    for month in range(1, 13):
        as_of = date(year, month, calendar.monthrange(year, month)[1])
        if as_of >= today:
            break
        rows = []
        for index, (unit, form) in enumerate(forms):
            share = PACES[index % len(PACES)] * month / 12
            rows.append([unit.name, unit.credit_code, ((form.reserved_amount or 0) * share).quantize(Decimal("0.01")),
                         ((form.union_expected or 0) * share).quantize(Decimal("0.01"))])
        data = _workbook(rows)
        plan = fulfilment_import.plan_import(finance, data, year=year, as_of=as_of, today=today)
        made_import = fulfilment_import.commit_import(finance, plan, filename=f"832平台采购统计-{as_of:%Y%m}.xlsx",
                                                      data=data)
        made_import.created_at = china_day_start(as_of + timedelta(days=3)) + timedelta(hours=2)
        made += 1
    if made:
        last = min(date(year, 12, 31), today - timedelta(days=1))
        behind = reminding.finance_targets(finance, "behind", year=year, day=last, threshold=Decimal("60"))
        reminders.send(finance, behind, now=min(now, datetime.combine(last, datetime.min.time())))
    db.session.flush()
    return made
