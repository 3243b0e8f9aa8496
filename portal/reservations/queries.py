"""Lists of forms and progress for superiors and finance departments."""
from collections import Counter

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from portal.accounts.kinds import UnitKind
from portal.accounts.models import Unit
from portal.extensions import db
from portal.reservations import scope
from portal.reservations.models import Reservation, YearPolicy
from portal.reservations.states import CONFIRMED, DRAFT, SUBMITTED


def current_year():
    """The newest year the province has set a policy for."""
    return db.session.scalar(select(YearPolicy.year).order_by(YearPolicy.year.desc()).limit(1))


def forms_by_unit(unit_ids, year):
    rows = db.session.scalars(select(Reservation).where(Reservation.unit_id.in_(unit_ids), Reservation.year == year)
                              .options(joinedload(Reservation.unit)))
    return {form.unit_id: form for form in rows}


def last_year_by_unit(unit_ids, year):
    return forms_by_unit(unit_ids, year - 1)


def awaiting_superior(account, year):
    return db.session.scalars(select(Reservation).where(Reservation.superior_id == account.unit_id,
                                                        Reservation.year == year, Reservation.status == SUBMITTED)
                              .options(joinedload(Reservation.unit)).order_by(Reservation.submitted_at)).all()


def awaiting_finance(account, year):
    return db.session.scalars(select(Reservation).where(
        Reservation.finance_id == account.unit_id, Reservation.year == year, Reservation.status == CONFIRMED,
        (Reservation.batch_id.is_not(None)) | (Reservation.superior_id.is_(None)))
        .options(joinedload(Reservation.unit), joinedload(Reservation.batch)).order_by(Reservation.id)).all()


def finance_units(finance_unit):
    """The budget units whose nearest finance department is this one."""
    heads = db.session.scalars(select(Unit).where(Unit.parent_id == finance_unit.id,
                                                  Unit.kind == UnitKind.BUDGET_UNIT)).all()
    units = []
    for head in heads:
        units.extend(scope.department_units(head))
    return units


def progress(units, year):
    """Each unit with its form of the year (or None), and counts by status (未填报 for none/draft)."""
    forms = forms_by_unit([u.id for u in units], year)
    rows = [(unit, forms.get(unit.id)) for unit in units if unit.active]
    counts = Counter("unfiled" if form is None or form.status == DRAFT else form.status for _, form in rows)
    return rows, counts
