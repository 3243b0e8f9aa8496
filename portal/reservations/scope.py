"""Where a budget unit stands: its finance department, its confirming superior, its department
head; and who may see or act on a form. One rule per question, for pages, lists, PDFs alike:
lists are built over the units an account follows (department_units, queries.units_page and
queries.finance_units, all read from budget_unit_ancestor), and
tests/test_reservation_list_scope.py checks they hold exactly the forms may_view allows."""
from sqlalchemy import select

from portal.accounts.kinds import UnitKind
from portal.accounts.models import Unit
from portal.extensions import db
from portal.reservations import tallies
from portal.reservations.models import BudgetUnitAncestor
from portal.reservations.states import CONFIRMED, SUBMITTED


def is_budget_unit(account):
    return account.is_active and account.unit.kind == UnitKind.BUDGET_UNIT


def is_finance(account):
    return account.is_active and account.unit.kind == UnitKind.FINANCE


def finance_of(unit):
    """The nearest finance department above a budget unit."""
    node = unit.parent
    while node is not None and node.kind != UnitKind.FINANCE:
        node = node.parent
    return node


def has_subordinates(unit):
    return db.session.scalar(select(Unit.id).where(Unit.parent_id == unit.id, Unit.kind == UnitKind.BUDGET_UNIT,
                                                   Unit.active.is_(True)).limit(1)) is not None


def superior_of(unit):
    """The unit that confirms this unit's form before finance: its parent budget unit; a
    department head (主管预算单位) confirms its own; a unit standing alone has none."""
    if unit.parent is not None and unit.parent.kind == UnitKind.BUDGET_UNIT:
        return unit.parent
    return unit if has_subordinates(unit) else None


def department_head(unit):
    """The budget unit directly under finance at the top of this unit's department."""
    node = unit
    while node.parent is not None and node.parent.kind == UnitKind.BUDGET_UNIT:
        node = node.parent
    return node


def department_units(head):
    """The head and every budget unit below it, by id, in one query (budget_unit_ancestor)."""
    return db.session.scalars(select(Unit).join(BudgetUnitAncestor, BudgetUnitAncestor.unit_id == Unit.id)
                              .where(BudgetUnitAncestor.ancestor_id == head.id).order_by(Unit.id)).all()


def in_department(unit, unit_id):
    """Whether `unit_id` is this budget unit or one below it: one index lookup, at any size."""
    return unit.kind == UnitKind.BUDGET_UNIT and tallies.holds(unit.id, unit_id)


def may_view(account, reservation):
    unit = account.unit
    if reservation.unit_id == unit.id or reservation.superior_id == unit.id:
        return True
    if in_department(unit, reservation.unit_id):
        return True  # a department head follows its whole department
    return unit.kind == UnitKind.FINANCE and reservation.finance_id == unit.id


def may_confirm(account, reservation):
    """The superior's step: confirm or return a submitted form."""
    return is_budget_unit(account) and reservation.status == SUBMITTED and reservation.superior_id == account.unit_id


def may_finalize(account, reservation):
    """The finance step: confirm or return a form confirmed by its superior (or filed alone)."""
    return (is_finance(account) and reservation.status == CONFIRMED and reservation.finance_id == account.unit_id
            and (reservation.batch_id is not None or reservation.superior_id is None))
