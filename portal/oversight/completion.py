"""Completion: what units bought on 832 against the share they reserved, on a given day.

The reserved share counts forms the finance department has confirmed (财政部门已确认), as the
province reports it to the 832 platform; purchases are each unit's latest imported figure dated
on or before the day. Canteen (食堂食材) and union (工会) are kept apart throughout. Figures are
read in a handful of queries for the whole province and grouped in memory: by unit, by
department (the confirming superior), by finance department with or without the levels below,
by finance level and by city. Nothing here reads the request.
"""
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from sqlalchemy import func, select

from portal.accounts.kinds import UnitKind
from portal.accounts.models import Account, Unit
from portal.extensions import db
from portal.oversight.models import FulfilmentLine
from portal.reservations.models import BudgetUnitAncestor, Reservation, YearPolicy
from portal.reservations.states import CONFIRMED, FINAL, RETURNED, SUBMITTED

ZERO = Decimal("0.00")
FILED = (SUBMITTED, CONFIRMED, FINAL)


def ratio(part, whole):
    """part ÷ whole in percent to 0.01, or None when nothing was reserved."""
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.01"))


class Completion:
    """bought ÷ reserved, canteen and union apart, of whatever holds the four amounts."""

    @property
    def canteen_completion(self):
        return ratio(self.bought_canteen, self.reserved_canteen)

    @property
    def union_completion(self):
        return ratio(self.bought_union, self.reserved_union)


@dataclass
class UnitFigures(Completion):
    node: object
    status: str | None = None
    superior_id: int | None = None
    reserved_canteen: Decimal = ZERO
    reserved_union: Decimal = ZERO
    bought_canteen: Decimal = ZERO
    bought_union: Decimal = ZERO
    bought_as_of: date | None = None
    has_account: bool = False
    used_account: bool = False
    overdue: str | None = None


@dataclass
class Totals(Completion):
    """Figures summed over a group of units."""

    key: object = None
    label: str = ""
    units: int = 0
    accounts_opened: int = 0
    accounts_used: int = 0
    filed: int = 0
    confirmed: int = 0
    final: int = 0
    overdue: int = 0
    reserved_canteen: Decimal = ZERO
    reserved_union: Decimal = ZERO
    bought_canteen: Decimal = ZERO
    bought_union: Decimal = ZERO
    members: list = field(default_factory=list, repr=False)

    def add(self, figures):
        self.units += 1
        self.accounts_opened += figures.has_account
        self.accounts_used += figures.used_account
        self.filed += figures.status in FILED
        self.confirmed += figures.status in (CONFIRMED, FINAL)
        self.final += figures.status == FINAL
        self.overdue += figures.overdue is not None
        self.reserved_canteen += figures.reserved_canteen
        self.reserved_union += figures.reserved_union
        self.bought_canteen += figures.bought_canteen
        self.bought_union += figures.bought_union
        self.members.append(figures)


#: up to this many units are read by their ids; more, through the finance departments they answer
#: to (budget_unit_ancestor), or for the whole province by reading the whole year
FEW_UNITS = 500


def _only(query, column, unit_ids, finance_ids=None):
    """The query kept to these units' rows (`column` holds the unit id)."""
    if unit_ids is not None and len(unit_ids) <= FEW_UNITS:
        return query.where(column.in_(list(unit_ids)))
    if finance_ids is not None:
        return (query.join(BudgetUnitAncestor, BudgetUnitAncestor.unit_id == column)
                .where(BudgetUnitAncestor.ancestor_id.in_(list(finance_ids))))
    return query


def purchases_on(year, day, unit_ids=None, finance_ids=None):
    """unit id -> (as_of, canteen, union): each unit's latest figure of the year up to `day`."""
    latest = (_only(select(FulfilmentLine.unit_id, func.max(FulfilmentLine.as_of).label("as_of"))
                    .where(FulfilmentLine.year == year, FulfilmentLine.as_of <= day), FulfilmentLine.unit_id, unit_ids,
                    finance_ids)
              .group_by(FulfilmentLine.unit_id).subquery())
    rows = db.session.execute(
        select(FulfilmentLine.unit_id, FulfilmentLine.as_of, FulfilmentLine.canteen_amount,
               FulfilmentLine.union_amount)
        .join(latest, (latest.c.unit_id == FulfilmentLine.unit_id) & (latest.c.as_of == FulfilmentLine.as_of))
        # a day from 1 January to 31 March can hold lines of this year and of the year before
        .where(FulfilmentLine.year == year)
        .order_by(FulfilmentLine.id))
    # the newest import of a day wins: rows come oldest first
    found = {row.unit_id: (row.as_of, row.canteen_amount, row.union_amount) for row in rows}
    return found if unit_ids is None else {k: v for k, v in found.items() if k in unit_ids}


def overdue_reason(status, policy, day):
    """Why a form is late on `day` under the year's deadlines, or None."""
    if policy is None:
        return None
    if status in (None, "draft", RETURNED) and day > policy.last_filing_day:
        return "逾期未填报"
    if status == SUBMITTED and policy.superior_deadline and day > policy.superior_deadline:
        return "主管预算单位逾期未确认"
    if status == CONFIRMED and policy.finance_deadline and day > policy.finance_deadline:
        return "财政部门逾期未确认"
    return None


def unit_figures(nodes, year, day, finance_ids=None):
    """UnitFigures for each budget unit node (scope.Node), in the order given; `finance_ids`, the
    finance departments they answer to when that is not the whole province, so that a city's
    roll-up reads the city's rows."""
    ids = {node.id for node in nodes}
    policy = db.session.get(YearPolicy, year)
    forms = {row.unit_id: row for row in db.session.execute(_only(
        select(Reservation.unit_id, Reservation.status, Reservation.superior_id, Reservation.reserved_amount,
               Reservation.union_expected).where(Reservation.year == year), Reservation.unit_id, ids, finance_ids))
             if row.unit_id in ids}
    opened, used = set(), set()
    for unit_id, logged_in in db.session.execute(_only(
            select(Account.unit_id, func.max(Account.last_login_at)).join(Unit, Unit.id == Account.unit_id)
            .where(Account.active.is_(True), Unit.kind == UnitKind.BUDGET_UNIT), Account.unit_id, ids, finance_ids)
            .group_by(Account.unit_id)):
        opened.add(unit_id)
        if logged_in is not None:
            used.add(unit_id)
    bought = purchases_on(year, day, ids, finance_ids)
    result = []
    for node in nodes:
        form = forms.get(node.id)
        figures = UnitFigures(node=node, status=form.status if form else None,
                              superior_id=form.superior_id if form else None,
                              has_account=node.id in opened, used_account=node.id in used)
        if form is not None and form.status == FINAL:
            figures.reserved_canteen = form.reserved_amount or ZERO
            figures.reserved_union = form.union_expected or ZERO
        if node.id in bought:
            figures.bought_as_of, figures.bought_canteen, figures.bought_union = bought[node.id]
        if node.active:
            figures.overdue = overdue_reason(figures.status, policy, day)
        result.append(figures)
    return result


def group(figures, key, label, add=Totals.add):
    """Totals per key(item), labelled by label(key), in order of first appearance; add(totals, item)
    counts an item in (a unit's figures by default; rollup passes its cells of many units)."""
    groups = {}
    for item in figures:
        k = key(item)
        if k not in groups:
            groups[k] = Totals(key=k, label=label(k))
        add(groups[k], item)
    return list(groups.values())


def total(figures, label="合计", add=Totals.add):
    result = Totals(label=label)
    for item in figures:
        add(result, item)
    return result


def finance_levels(org, finance_id):
    """Empty Totals for the units answering to `finance_id` itself (key = finance_id) and for each
    active finance department directly below it, by name; with, for every finance department of
    those subtrees, the child it counts under. A unit of an inactive child counts as the own level's."""
    below = org.finance_children(finance_id)
    owner = {member: child.id for child in below for member in org.finance_subtree(child.id)}
    own = Totals(key=finance_id, label=org.nodes[finance_id].name + "（本级）")
    return own, {child.id: Totals(key=child.id, label=child.name) for child in below}, owner


def by_finance(org, finance_id, figures):
    """One Totals per finance department directly below `finance_id`, each over its whole subtree,
    and one for the units answering to `finance_id` itself (key = finance_id)."""
    own, rows, owner = finance_levels(org, finance_id)
    for item in figures:
        target = owner.get(org.finance_of(item.node.id))
        (rows[target] if target is not None else own).add(item)
    return [own, *rows.values()]
