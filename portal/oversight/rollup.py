"""Completion summed in the database, for the oversight pages of a finance department with tens of
thousands of budget units below it.

The figures are completion.unit_figures' (a form's state and its reserved share once finance
confirmed it, the unit's accounts, its latest 832 figure of the year on the day), but read as
one row per unit inside SQL and summed there: `cells` groups them by finance department, city and
form state, and at the page's own level by parent too (which names the department), a few rows
per group however many units it holds. The roll-ups (total, each finance level with
the levels below it, each city, each department) are added up from those cells, and the page's
own units are ordered by completion in SQL, so that only the fifty shown become UnitFigures.
"""
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

from sqlalchemy import BigInteger, Numeric, and_, bindparam, case, func, literal, or_, select, tuple_, type_coerce
from sqlalchemy.orm import aliased

from portal.accounts.kinds import UnitKind
from portal.accounts.models import Account, Unit
from portal.extensions import db
from portal.oversight import completion
from portal.oversight.completion import FILED, ZERO, UnitFigures, finance_levels, overdue_reason
from portal.oversight.models import FulfilmentLine
from portal.oversight.scope import Node
from portal.reservations.models import BudgetUnitAncestor, Reservation, YearPolicy
from portal.reservations.states import CONFIRMED, FINAL


@dataclass
class Cell:
    """The units of one finance department, city, form state and, at the page's own level, parent
    (`member_of`: a unit of their department, which `departments` resolves to its head)."""

    finance_id: int
    city_code: str | None
    member_of: int | None
    status: str | None
    units: int
    accounts_opened: int
    accounts_used: int
    reserved_canteen: Decimal
    reserved_union: Decimal
    bought_canteen: Decimal
    bought_union: Decimal
    overdue: bool = False


# The statements are built once per shape (database, whole province or not, what they select) with
# bind parameters, and reused: building them costs more than running them on a small province.
FINANCE_IDS, UNIT_IDS = bindparam("finance_ids", expanding=True), bindparam("unit_ids", expanding=True)
YEAR, DAY, OWN_ID = bindparam("year"), bindparam("day"), bindparam("own_id")


def _sqlite():
    return db.engine.dialect.name == "sqlite"


def _within(query, column, whole, by_ids):
    """The query kept to the rows of the units UNIT_IDS, or of those answering to FINANCE_IDS
    (`whole`: the whole province, every row)."""
    if by_ids:
        return query.where(column.in_(UNIT_IDS))
    if whole:
        return query
    link = aliased(BudgetUnitAncestor)
    return query.join(link, link.unit_id == column).where(link.ancestor_id.in_(FINANCE_IDS))


def _join_newest_line(query, sqlite, whole, by_ids):
    """The query with each unit's newest 832 line of the year on or before the day (of one day's,
    the last imported) outer-joined as the returned alias. On SQLite one step down the index on
    year, unit and day per unit: its planner, taking a city's units for a handful, would otherwise
    scan the whole joined list once per unit. On PostgreSQL ranked in one pass and hash-joined: a
    subquery per unit costs it a plan node each and, with the cost estimated, JIT compilation."""
    line, newest = aliased(FulfilmentLine), aliased(FulfilmentLine)
    if sqlite:
        first = (select(newest.id).where(newest.unit_id == Unit.id, newest.year == YEAR, newest.as_of <= DAY)
                 .order_by(newest.as_of.desc(), newest.id.desc()).limit(1).correlate(Unit).scalar_subquery())
        return query.outerjoin(line, line.id == first), line
    ranked = _within(select(newest.id, newest.unit_id, func.row_number().over(
        partition_by=newest.unit_id, order_by=(newest.as_of.desc(), newest.id.desc())).label("rank"))
        .where(newest.year == YEAR, newest.as_of <= DAY), newest.unit_id, whole, by_ids).subquery()
    first = select(ranked.c.unit_id, ranked.c.id).where(ranked.c.rank == 1).subquery()
    return query.outerjoin(first, first.c.unit_id == Unit.id).outerjoin(line, line.id == first.c.id), line


def _units(sqlite, whole, *, own=False, accounts=True, by_ids=False):
    """One row per active budget unit answering to any of FINANCE_IDS (with `by_ids`, of the
    UNIT_IDS among them): its finance department, form of YEAR, accounts and newest 832 figure on
    DAY, and with `own`, for the units answering to OWN_ID itself, `member_of`: the unit itself
    when it heads its department (stands directly under OWN_ID), else its parent, a unit of the
    same department (the head is looked up for these few ids, not joined to every unit).
    `whole`: the finance departments are the whole province, whose accounts and lines are all read."""
    finance = aliased(BudgetUnitAncestor)
    final = Reservation.status == FINAL
    query = (select(Unit.id, Unit.parent_id, Unit.kind, Unit.name, Unit.city_code, Unit.finance_level, Unit.active,
                    finance.ancestor_id.label("finance_id"), Reservation.status, Reservation.superior_id,
                    case((final, Reservation.reserved_amount)).label("reserved_canteen"),
                    case((final, Reservation.union_expected)).label("reserved_union"))
             .select_from(Unit).join(finance, finance.unit_id == Unit.id)
             .outerjoin(Reservation, and_(Reservation.unit_id == Unit.id, Reservation.year == YEAR))
             .where(finance.ancestor_id.in_(FINANCE_IDS), Unit.kind == UnitKind.BUDGET_UNIT, Unit.active.is_(True)))
    if by_ids:
        query = query.where(Unit.id.in_(UNIT_IDS))
    query, line = _join_newest_line(query, sqlite, whole, by_ids)
    query = query.add_columns(line.as_of.label("bought_as_of"), line.canteen_amount.label("bought_canteen"),
                              line.union_amount.label("bought_union"))
    if accounts:
        # whether the unit has an active account, and one that has logged in: two semi-joins, each
        # list of units read once (hashed), where grouping the accounts by unit cost twice as much
        active = select(Account.unit_id).where(Account.active.is_(True))
        used = active.where(Account.last_login_at.is_not(None))
        query = query.add_columns(
            case((Unit.id.in_(_within(active, Account.unit_id, whole, by_ids)), 1)).label("account_opened"),
            case((Unit.id.in_(_within(used, Account.unit_id, whole, by_ids)), 1)).label("account_used"))
    if own:
        query = query.add_columns(case((finance.ancestor_id != OWN_ID, None), (Unit.parent_id == OWN_ID, Unit.id),
                                       else_=Unit.parent_id).label("member_of"))
    return query.subquery()


@lru_cache(maxsize=None)
def _cells_statement(sqlite, whole):
    units = _units(sqlite, whole, own=True)
    keys = (units.c.finance_id, units.c.city_code, units.c.member_of, units.c.status)
    return (select(*keys, func.count(), func.count(units.c.account_opened), func.count(units.c.account_used),
                   func.sum(units.c.reserved_canteen), func.sum(units.c.reserved_union),
                   func.sum(units.c.bought_canteen), func.sum(units.c.bought_union))
            .group_by(*keys))


def cells(finance_ids, own_id, year, day, *, whole):
    """The Cells of the units answering to `finance_ids` (a finance department's subtree), each
    marked overdue or not under the year's deadlines on `day`."""
    rows = db.session.execute(_cells_statement(_sqlite(), whole), {
        "finance_ids": list(finance_ids), "own_id": own_id, "year": year, "day": day}).all()
    policy = db.session.get(YearPolicy, year)
    found = []
    for row in rows:
        cell = Cell(*row[:7], *(amount or ZERO for amount in row[7:]))
        cell.overdue = overdue_reason(cell.status, policy, day) is not None
        found.append(cell)
    return found


def add(totals, cell):
    """The cell's units counted into the totals (Totals.add, for a group of units at once)."""
    totals.units += cell.units
    totals.accounts_opened += cell.accounts_opened
    totals.accounts_used += cell.accounts_used
    totals.filed += cell.units if cell.status in FILED else 0
    totals.confirmed += cell.units if cell.status in (CONFIRMED, FINAL) else 0
    totals.final += cell.units if cell.status == FINAL else 0
    totals.overdue += cell.units if cell.overdue else 0
    totals.reserved_canteen += cell.reserved_canteen
    totals.reserved_union += cell.reserved_union
    totals.bought_canteen += cell.bought_canteen
    totals.bought_union += cell.bought_union
    return totals


def total(found, label="合计"):
    return completion.total(found, label, add=add)


def group(found, key, label):
    """Totals per key(cell), labelled by label(key), in order of first appearance."""
    return completion.group(found, key, label, add=add)


def by_finance(org, finance_id, found):
    """completion.by_finance over cells: the units of `finance_id` itself, then one row per
    finance department directly below it over its whole subtree."""
    own, rows, owner = finance_levels(org, finance_id)
    for cell in found:
        target = owner.get(cell.finance_id)
        add(rows[target] if target is not None else own, cell)
    return [own, *rows.values()]


@lru_cache(maxsize=None)
def _heads_statement():
    link, head = aliased(BudgetUnitAncestor), aliased(Unit)
    return (select(link.unit_id, head.id, head.name).join(head, head.id == link.ancestor_id)
            .where(link.unit_id.in_(bindparam("members", expanding=True)), head.parent_id == OWN_ID,
                   head.kind == UnitKind.BUDGET_UNIT))


def departments(found, finance_id):
    """本级按主管部门: the units of `finance_id` itself by department head (the budget unit at the
    top of the department, directly under `finance_id`), by name."""
    mine = [cell for cell in found if cell.finance_id == finance_id]
    heads = {member: (head_id, name) for member, head_id, name in db.session.execute(_heads_statement(), {
        "members": list({cell.member_of for cell in mine}), "own_id": finance_id})} if mine else {}
    rows = group(mine, key=lambda cell: heads.get(cell.member_of), label=lambda key: key[1] if key else "")
    for row in rows:
        row.key = row.key[0] if row.key else None
    return sorted(rows, key=lambda t: (t.label, t.key))


# --- the own units, a page at a time, in completion order ------------------------------------------

def _hundredths(sqlite, bought, reserved):
    """round-half-even(bought × 10000 ÷ reserved), exactly: completion.ratio's percent to 0.01,
    × 100. Integer division on SQLite (money is fen there), div and mod of numerics on PostgreSQL."""
    if sqlite:
        bought, reserved = type_coerce(bought, BigInteger()), type_coerce(reserved, BigInteger())
        divide, modulo = (lambda a, b: a.op("/")(b)), (lambda a, b: a.op("%")(b))
    else:
        bought, reserved = type_coerce(bought, Numeric()), type_coerce(reserved, Numeric())
        divide, modulo = func.div, func.mod
    scaled = bought * literal(10000, BigInteger())
    quotient, twice = divide(scaled, reserved), modulo(scaled, reserved) * literal(2, BigInteger())
    return quotient + case((twice > reserved, 1), (twice == reserved, modulo(quotient, 2)), else_=0)


@lru_cache(maxsize=None)
def _order_statements(sqlite, whole):
    """completion's order of the own units list: those with nothing reserved last, then by canteen
    completion, name (by code point, as Python sorts) and id. Returns the statements of a page's
    ids from the top and after a unit (the `after_` parameters) and of a unit's place (`after`)."""
    units = _units(sqlite, whole, accounts=False)
    reserved = units.c.reserved_canteen
    missing = case((or_(reserved.is_(None), reserved == 0), 1), else_=0)
    ratio = case((missing == 1, 0), else_=_hundredths(sqlite, func.coalesce(units.c.bought_canteen, 0), reserved))
    order = (missing, ratio, units.c.name if sqlite else units.c.name.collate("C"), units.c.id)
    top = select(units.c.id).order_by(*order).limit(bindparam("size"))
    after = tuple_(*(bindparam(f"after_{number}") for number in range(len(order))))
    return top, top.where(tuple_(*order) > after), select(*order).where(units.c.id == bindparam("after"))


@lru_cache(maxsize=None)
def _page_statement(sqlite, whole):
    return select(_units(sqlite, whole, by_ids=True))


def own_page(finance_id, year, day, after, size, *, whole):
    """One page of `size` UnitFigures of the units answering to `finance_id` itself, in completion
    order, starting after the unit `after` (from the start when it is not on the list); with the
    unit the next page starts after, or None on the last page. The order reads forms and 832 lines
    only; the page's units are then read whole, by id."""
    sqlite = _sqlite()
    top, following, place = _order_statements(sqlite, whole)
    params = {"finance_ids": [finance_id], "year": year, "day": day, "size": size + 1}
    start = db.session.execute(place, {**params, "after": after}).first() if after else None
    if start is not None:
        ids = db.session.scalars(following, {**params, **{f"after_{n}": value for n, value in enumerate(start)}}).all()
    else:
        ids = db.session.scalars(top, params).all()
    shown = ids[:size]
    rows = {row.id: row for row in db.session.execute(
        _page_statement(sqlite, whole), {**params, "unit_ids": shown})} if shown else {}
    policy = db.session.get(YearPolicy, year)
    page = [_figures(rows[unit_id], policy, day) for unit_id in shown]
    return page, page[-1].node.id if len(ids) > size else None


def _figures(row, policy, day):
    node = Node(row.id, row.parent_id, row.kind, row.name, row.city_code, row.finance_level, row.active)
    figures = UnitFigures(node=node, status=row.status, superior_id=row.superior_id,
                          reserved_canteen=row.reserved_canteen or ZERO, reserved_union=row.reserved_union or ZERO,
                          bought_canteen=row.bought_canteen or ZERO, bought_union=row.bought_union or ZERO,
                          bought_as_of=row.bought_as_of, has_account=row.account_opened is not None,
                          used_account=row.account_used is not None)
    figures.overdue = overdue_reason(figures.status, policy, day) if node.active else None
    return figures
