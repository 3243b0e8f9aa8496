"""What the superiors' and finance departments' pages count, kept as forms and units change, so
that a page costs the same for a department of twenty units as for one of twenty thousand.

Two tables, both written in the flush of the change they follow:

- `budget_unit_ancestor`: each budget unit with every unit whose lists hold it: itself, each
  budget unit above it in its department, and its nearest finance department. Units never move,
  so a row is written once, when the unit is opened. A list pages through it by key.
- `reservation_tally`: per (unit, year, key) a count. For a list owner (an ancestor above) and
  each year, its active units' forms by PROGRESS_KEYS, and with year 0 its active units (UNITS);
  for a confirming superior TO_CONFIRM (forms submitted to it) and for a finance department
  TO_FINALIZE (forms before it), whatever their unit's state, as the queues list them.

They are kept by one `after_flush` listener rather than by each operation, so that every way a
unit or a form is written (the workflow, the budget-unit import, the demo, tests' factories)
counts alike; rows written with Core statements (the benchmark's bulk inserts, migrations) are
counted by `rebuild`. Additions are atomic upserts (`count = count + :d`), so two people acting
at once never lose each other's. A unit is never closed in the flush that changes its forms.
"""
from collections import Counter

from sqlalchemy import and_, case, event, func, inspect, literal, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from portal.accounts.kinds import UnitKind
from portal.accounts.models import Unit
from portal.audit_chain import head_of
from portal.extensions import db
from portal.reservations.models import BudgetUnitAncestor, Reservation, ReservationTally
from portal.reservations.states import CONFIRMED, FINAL, RETURNED, SUBMITTED

#: a confirmed form is READY while its department head has not sent it on, SENT once it has (or
#: when it went straight to finance, having no superior)
READY, SENT = "ready", "sent"
PROGRESS_KEYS = ("draft", SUBMITTED, RETURNED, READY, SENT, FINAL)
FILED_KEYS = (SUBMITTED, RETURNED, READY, SENT, FINAL)
UNITS, TO_CONFIRM, TO_FINALIZE = "units", "to_confirm", "to_finalize"
#: the year of the UNITS rows, which belong to no year
ANY_YEAR = 0
_INSERT = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}
_ANCESTOR, _TALLY = BudgetUnitAncestor.__table__, ReservationTally.__table__


def progress_key(status, batch_id, superior_id):
    if status == CONFIRMED:
        return READY if batch_id is None and superior_id is not None else SENT
    return status


_FORM_FIELDS = ("year", "status", "batch_id", "superior_id", "finance_id", "unit_id")


def _before_and_after(session, form, deleted=False):
    """(year, status, batch, superior, finance, unit) before and after this flush, None for none."""
    after = None if deleted else tuple(getattr(form, name) for name in _FORM_FIELDS)
    if form in session.new:
        return None, after
    state, before = inspect(form), []
    for name in _FORM_FIELDS:
        history = state.attrs[name].history
        before.append(history.deleted[0] if history.deleted else
                      history.unchanged[0] if history.unchanged else getattr(form, name))
    return tuple(before), after


def _queue_deltas(values, sign, deltas):
    year, status, batch_id, superior_id, finance_id, _ = values
    if status == SUBMITTED and superior_id is not None:
        deltas[(superior_id, year, TO_CONFIRM)] += sign
    if progress_key(status, batch_id, superior_id) == SENT:
        deltas[(finance_id, year, TO_FINALIZE)] += sign


def _ancestors(connection, unit_ids):
    """unit id -> the ids of the units whose lists hold it."""
    found = {unit_id: [] for unit_id in unit_ids}
    ids = list(unit_ids)
    for start in range(0, len(ids), 500):
        for ancestor_id, unit_id in connection.execute(select(_ANCESTOR.c.ancestor_id, _ANCESTOR.c.unit_id)
                                                       .where(_ANCESTOR.c.unit_id.in_(ids[start:start + 500]))):
            found[unit_id].append(ancestor_id)
    return found


def _open_units(connection, units, deltas):
    """Ancestor rows for budget units opened in this flush (parents first), and their count."""
    for unit in sorted(units, key=lambda u: u.id):
        above = _ancestors(connection, [unit.parent_id])[unit.parent_id]
        if not above and connection.scalar(select(Unit.kind).where(Unit.id == unit.parent_id)) == UnitKind.FINANCE:
            above = [unit.parent_id]
        rows = [unit.id, *above]
        connection.execute(_ANCESTOR.insert(), [{"ancestor_id": a, "unit_id": unit.id} for a in rows])
        if unit.active:
            for ancestor in rows:
                deltas[(ancestor, ANY_YEAR, UNITS)] += 1


def _units_switched(connection, units, deltas):
    """A budget unit closed (or opened again): it and its forms leave (or rejoin) its lists."""
    ancestors = _ancestors(connection, [unit.id for unit in units])
    for unit in units:
        sign = 1 if unit.active else -1
        forms = connection.execute(select(Reservation.year, Reservation.status, Reservation.batch_id,
                                          Reservation.superior_id).where(Reservation.unit_id == unit.id)).all()
        for ancestor in ancestors[unit.id]:
            deltas[(ancestor, ANY_YEAR, UNITS)] += sign
            for year, status, batch_id, superior_id in forms:
                deltas[(ancestor, year, progress_key(status, batch_id, superior_id))] += sign


def _forms_changed(connection, changes, switched, deltas):
    """Forms written in this flush: queues by their superior and finance, lists by ancestors."""
    moves = []
    for before, after in changes:
        for values, sign in ((before, -1), (after, 1)):
            if values is not None:
                _queue_deltas(values, sign, deltas)
                if values[5] not in switched:
                    moves.append((values, sign))
    if not moves:
        return
    units = {values[5] for values, _ in moves}
    active = set(connection.scalars(select(Unit.id).where(Unit.id.in_(units), Unit.active.is_(True))))
    ancestors = _ancestors(connection, active)
    for (year, status, batch_id, superior_id, _, unit_id), sign in moves:
        for ancestor in ancestors.get(unit_id, ()):
            deltas[(ancestor, year, progress_key(status, batch_id, superior_id))] += sign


def _add(connection, deltas):
    insert = _INSERT[connection.dialect.name]
    for (unit_id, year, key), change in sorted(deltas.items()):
        if change:
            statement = insert(_TALLY).values(unit_id=unit_id, year=year, key=key, count=change)
            connection.execute(statement.on_conflict_do_update(
                index_elements=["unit_id", "year", "key"], set_={"count": _TALLY.c.count + statement.excluded.count}))


@event.listens_for(Session, "before_flush")
def _trail_first(session, _flush_context, _instances):
    """Take the audit trail's lock before a flush locks a form's row or its tallies' rows. Every
    writer then takes the trail first and rows after: a confirmation holds the trail from its
    version check on, and a step's save, which locked its superior's and finance's tally rows
    first, deadlocked with it on PostgreSQL (bench.load, eight requests at once)."""
    if any(isinstance(o, (Reservation, Unit)) for o in (*session.new, *session.dirty, *session.deleted)):
        head_of(session)


@event.listens_for(Session, "after_flush")
def _follow(session, _flush_context):
    new_units = [o for o in session.new if isinstance(o, Unit) and o.kind == UnitKind.BUDGET_UNIT]
    switched = [o for o in session.dirty if isinstance(o, Unit) and o.kind == UnitKind.BUDGET_UNIT
                and inspect(o).attrs.active.history.has_changes()]
    changes = [_before_and_after(session, o) for o in (*session.new, *session.dirty) if isinstance(o, Reservation)]
    changes += [_before_and_after(session, o, deleted=True) for o in session.deleted if isinstance(o, Reservation)]
    changes = [(before, after) for before, after in changes if before != after]
    if not (new_units or switched or changes):
        return
    connection, deltas = session.connection(), Counter()
    _open_units(connection, new_units, deltas)
    _units_switched(connection, switched, deltas)
    _forms_changed(connection, changes, {unit.id for unit in switched}, deltas)
    _add(connection, deltas)


# Old values are loaded before they change, so that a form's or unit's earlier state is known
# even when the attribute had expired since it was read.
for _attribute in (Reservation.status, Reservation.batch_id, Reservation.superior_id, Reservation.finance_id,
                   Reservation.year, Reservation.unit_id, Unit.active):
    event.listen(_attribute, "set", lambda *args: None, active_history=True)


def _progress_case(form):
    return case((form.status == CONFIRMED,
                 case((and_(form.batch_id.is_(None), form.superior_id.is_not(None)), literal(READY)),
                      else_=literal(SENT))), else_=form.status)


def rebuild():
    """Both tables from the units and forms as they stand (after rows written with Core)."""
    session = db.session
    session.execute(_TALLY.delete())
    session.execute(_ANCESTOR.delete())
    kinds = dict(session.execute(select(Unit.id, Unit.kind).where(
        Unit.kind.in_((UnitKind.BUDGET_UNIT, UnitKind.FINANCE)))).all())
    parents = dict(session.execute(select(Unit.id, Unit.parent_id).where(Unit.kind == UnitKind.BUDGET_UNIT)).all())
    rows = []
    for unit_id in parents:
        node = unit_id
        while node is not None and kinds.get(node) == UnitKind.BUDGET_UNIT:
            rows.append({"ancestor_id": node, "unit_id": unit_id})
            node = parents[node]
        if node is not None and kinds.get(node) == UnitKind.FINANCE:
            rows.append({"ancestor_id": node, "unit_id": unit_id})
    for start in range(0, len(rows), 5000):
        session.execute(_ANCESTOR.insert(), rows[start:start + 5000])
    a, form = _ANCESTOR.c, Reservation
    member = select(a.ancestor_id, a.unit_id).join(Unit, Unit.id == a.unit_id).where(Unit.active.is_(True)).subquery()
    key = _progress_case(form)
    sources = [
        select(member.c.ancestor_id, literal(ANY_YEAR), literal(UNITS), func.count()).group_by(member.c.ancestor_id),
        select(member.c.ancestor_id, form.year, key, func.count()).join(form, form.unit_id == member.c.unit_id)
        .group_by(member.c.ancestor_id, form.year, key),
        select(form.superior_id, form.year, literal(TO_CONFIRM), func.count())
        .where(form.status == SUBMITTED, form.superior_id.is_not(None)).group_by(form.superior_id, form.year),
        select(form.finance_id, form.year, literal(TO_FINALIZE), func.count())
        .where(form.status == CONFIRMED, or_(form.batch_id.is_not(None), form.superior_id.is_(None)))
        .group_by(form.finance_id, form.year),
    ]
    for source in sources:
        session.execute(_TALLY.insert().from_select(["unit_id", "year", "key", "count"], source))


def read(unit_id, year):
    """Every tally of this unit for the year, with its active units (UNITS), in one query; a key
    with no row counts 0."""
    return Counter(dict(db.session.execute(select(ReservationTally.key, ReservationTally.count).where(
        ReservationTally.unit_id == unit_id, ReservationTally.year.in_((year, ANY_YEAR)))).all()))


def holds(ancestor_id, unit_id):
    """Whether this unit's lists hold that budget unit (itself, its department below it, or for a
    finance department its own level)."""
    return db.session.scalar(select(_ANCESTOR.c.unit_id).where(_ANCESTOR.c.ancestor_id == ancestor_id,
                                                               _ANCESTOR.c.unit_id == unit_id)) is not None
