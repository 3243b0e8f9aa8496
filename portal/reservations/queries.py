"""Lists of forms and progress for superiors and finance departments.

The pages read one page of units or forms by key and their counts from tallies.py, so that they
cost the same for twenty units as for twenty thousand; the exports and the batch read every unit
of the department in one query."""
from collections import Counter
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import or_, select, tuple_
from sqlalchemy.orm import defer, joinedload

from portal.accounts.models import Unit
from portal.extensions import db
from portal.reservations import tallies
from portal.reservations.models import BudgetUnitAncestor, Reservation, YearPolicy
from portal.reservations.states import CONFIRMED, DRAFT, FINAL, RETURNED, STATUS_LABELS, SUBMITTED

#: what a list of forms never shows: the filing contacts (decrypted on load) and the returned figures
_UNSHOWN = [defer(getattr(Reservation, name)) for name in (
    "contact_name", "contact_mobile", "union_contact_name", "union_contact_mobile", "returned_values")]


def current_year():
    """The newest year the province has set a policy for."""
    return db.session.scalar(select(YearPolicy.year).order_by(YearPolicy.year.desc()).limit(1))


def forms_by_unit(unit_ids, year):
    rows = db.session.scalars(select(Reservation).where(Reservation.unit_id.in_(unit_ids), Reservation.year == year)
                              .options(joinedload(Reservation.unit)))
    return {form.unit_id: form for form in rows}


def last_year_by_unit(unit_ids, year):
    return forms_by_unit(unit_ids, year - 1)


def _to_superior(account, year):
    return select(Reservation).where(Reservation.superior_id == account.unit_id, Reservation.year == year,
                                     Reservation.status == SUBMITTED)


def _to_finance(account, year):
    return select(Reservation).where(
        Reservation.finance_id == account.unit_id, Reservation.year == year, Reservation.status == CONFIRMED,
        (Reservation.batch_id.is_not(None)) | (Reservation.superior_id.is_(None)))


def awaiting_superior(account, year):
    return db.session.scalars(_to_superior(account, year).options(joinedload(Reservation.unit))
                              .order_by(Reservation.submitted_at)).all()


def awaiting_finance(account, year):
    return db.session.scalars(_to_finance(account, year).options(joinedload(Reservation.unit),
                                                                 joinedload(Reservation.batch))
                              .order_by(Reservation.id)).all()


def to_confirm_count(account, year):
    """How many forms wait for this superior's confirmation (its awaiting_superior, counted)."""
    return tallies.read(account.unit_id, year)[tallies.TO_CONFIRM]


def to_finalize_count(account, year):
    """How many forms wait for this finance department (its awaiting_finance, counted)."""
    return tallies.read(account.unit_id, year)[tallies.TO_FINALIZE]


def _page_size():
    return current_app.config["PAGE_SIZE"]


def superior_queue(account, year, after=None):
    """One page of awaiting_superior, oldest submission first, after the form `after`; with the
    id the next page starts after (None on the last page)."""
    query = _to_superior(account, year)
    if after is not None:
        since = db.session.scalar(select(Reservation.submitted_at).where(Reservation.id == after))
        if since is not None:
            query = query.where(tuple_(Reservation.submitted_at, Reservation.id) > tuple_(since, after))
    forms = db.session.scalars(query.options(joinedload(Reservation.unit), *_UNSHOWN)
                               .order_by(Reservation.submitted_at, Reservation.id).limit(_page_size() + 1)).all()
    return _cut(forms, lambda form: form.id)


def finance_queue(account, year, after=None):
    """One page of awaiting_finance, in id order, after the form `after`; with the next page's key."""
    query = _to_finance(account, year)
    if after is not None:
        query = query.where(Reservation.id > after)
    forms = db.session.scalars(query.options(joinedload(Reservation.unit), joinedload(Reservation.batch), *_UNSHOWN)
                               .order_by(Reservation.id).limit(_page_size() + 1)).all()
    return _cut(forms, lambda form: form.id)


def _cut(rows, key):
    size = _page_size()
    return rows[:size], key(rows[size - 1]) if len(rows) > size else None


def _member_units(owner_id):
    return (select(Unit).join(BudgetUnitAncestor, BudgetUnitAncestor.unit_id == Unit.id)
            .where(BudgetUnitAncestor.ancestor_id == owner_id))


def units_page(owner_id, year, after=None):
    """One page of the active budget units the unit's lists hold (its department, or a finance
    department's own level), by id after `after`: ([(unit, form of the year or None)], last
    year's forms by unit id, the next page's key)."""
    query = _member_units(owner_id).where(Unit.active.is_(True))
    if after is not None:
        query = query.where(BudgetUnitAncestor.unit_id > after)
    units, next_key = _cut(db.session.scalars(query.order_by(BudgetUnitAncestor.unit_id)
                                              .limit(_page_size() + 1)).all(), lambda unit: unit.id)
    forms = {(form.unit_id, form.year): form for form in db.session.scalars(
        select(Reservation).where(Reservation.unit_id.in_([unit.id for unit in units]),
                                  Reservation.year.in_((year, year - 1))).options(*_UNSHOWN))}
    last_year = {unit.id: forms[(unit.id, year - 1)] for unit in units if (unit.id, year - 1) in forms}
    return [(unit, forms.get((unit.id, year))) for unit in units], last_year, next_key


def progress_counts(found):
    """The counts above a progress list, from the list owner's tallies.read, as `progress` counts
    its rows: unfiled (no form, or a draft), submitted, returned, confirmed (ready: not yet sent on
    by the department head), final."""
    filed = sum(found[key] for key in tallies.FILED_KEYS)
    return {"unfiled": found[tallies.UNITS] - filed, SUBMITTED: found[SUBMITTED], RETURNED: found[RETURNED],
            CONFIRMED: found[tallies.READY] + found[tallies.SENT], "ready": found[tallies.READY],
            FINAL: found[FINAL]}


@dataclass
class Readiness:
    """Whether a department head may send its department's forms to finance."""

    ready: int
    problems: int
    #: the first units keeping the batch back, "单位：状态"
    first_problems: list


def readiness(head, year, counts, shown=10):
    """A department head's batch, from its progress_counts: forms ready to send, and the units not
    yet confirmed (counted, the first `shown` named), as workflow.department_readiness decides them."""
    problems = counts["unfiled"] + counts[SUBMITTED] + counts[RETURNED]
    first = []
    if problems:
        rows = db.session.execute(
            select(Unit.name, Reservation.status).select_from(Unit)
            .join(BudgetUnitAncestor, BudgetUnitAncestor.unit_id == Unit.id)
            .outerjoin(Reservation, (Reservation.unit_id == Unit.id) & (Reservation.year == year))
            .where(BudgetUnitAncestor.ancestor_id == head.id, Unit.active.is_(True),
                   or_(Reservation.id.is_(None), Reservation.status.in_((DRAFT, SUBMITTED, RETURNED))))
            .order_by(BudgetUnitAncestor.unit_id).limit(shown))
        first = [problem_line(name, status) for name, status in rows]
    return Readiness(counts["ready"], problems, first)


def problem_line(name, status):
    return f"{name}：{'未填报' if status in (None, DRAFT) else STATUS_LABELS[status]}"


def department_forms(owner_id, year):
    """Every active unit the unit's lists hold, with its form of the year or None, by id: one query."""
    rows = db.session.execute(
        _member_units(owner_id).add_columns(Reservation).where(Unit.active.is_(True))
        .outerjoin(Reservation, (Reservation.unit_id == Unit.id) & (Reservation.year == year))
        .order_by(Unit.id)).all()
    return [(unit, form) for unit, form in rows]


def finance_units(finance_unit):
    """The budget units whose nearest finance department is this one, by id."""
    return db.session.scalars(_member_units(finance_unit.id).order_by(Unit.id)).all()


def progress(units, year):
    """Each unit with its form of the year (or None), and counts by status (未填报 for none/draft)."""
    forms = forms_by_unit([u.id for u in units], year)
    rows = [(unit, forms.get(unit.id)) for unit in units if unit.active]
    counts = Counter("unfiled" if form is None or form.status == DRAFT else form.status for _, form in rows)
    return rows, counts

