"""Who oversees what: a finance department follows its own budget units and, through the finance
departments below it (province → city → county), theirs. One map of the tree, read once per
question, answers every "is this unit mine" without a query per unit."""
from dataclasses import dataclass

from sqlalchemy import select

from portal.accounts.kinds import UnitKind
from portal.accounts.models import Unit
from portal.extensions import db
from portal.reservations.models import BudgetUnitAncestor


def is_overseer(account):
    """A finance department's account: the side that follows the reserved share over the year."""
    return account.is_active and account.unit.kind == UnitKind.FINANCE


@dataclass(frozen=True)
class Node:
    id: int
    parent_id: int | None
    kind: str
    name: str
    city_code: str | None
    finance_level: str | None
    active: bool


class OrgMap:
    """Every finance department, and the budget units (all, or those `under` one finance
    department's subtree) with the finance department each answers to (the nearest one above it,
    kept in budget_unit_ancestor as the unit was opened). With `units=False`, the finance
    departments alone (enough for the levels and the breadcrumb of a roll-up read in SQL), to
    which `read_units` adds the few budget units a page names."""

    _COLUMNS = (Unit.id, Unit.parent_id, Unit.kind, Unit.name, Unit.city_code, Unit.finance_level, Unit.active)

    def __init__(self, under=None, *, units=True):
        self.nodes = {row.id: Node(*row) for row in db.session.execute(
            select(*self._COLUMNS).where(Unit.kind == UnitKind.FINANCE))}
        self._below = {}
        for node in self.nodes.values():
            self._below.setdefault(node.parent_id, []).append(node)
        self._finance_of = {}
        if not units:
            return
        self._read(self.finance_subtree(under) if under is not None else list(self.nodes))

    def _read(self, finance_ids, unit_ids=None):
        query = (select(*self._COLUMNS, BudgetUnitAncestor.ancestor_id)
                 .join(BudgetUnitAncestor, BudgetUnitAncestor.unit_id == Unit.id)
                 .where(Unit.kind == UnitKind.BUDGET_UNIT, BudgetUnitAncestor.ancestor_id.in_(finance_ids)))
        if unit_ids is not None:
            query = query.where(Unit.id.in_(unit_ids))
        for *row, finance_id in db.session.execute(query):
            self.nodes[row[0]] = Node(*row)
            self._finance_of[row[0]] = finance_id

    def read_units(self, unit_ids):
        """These budget units (ids, or a select of them) added, with their finance departments."""
        self._read(list(n.id for n in self.nodes.values() if n.kind == UnitKind.FINANCE), unit_ids)

    def finance_of(self, unit_id):
        return self._finance_of.get(unit_id)

    def department_of(self, unit_id):
        """The department head (主管预算单位) of a budget unit: the budget unit at the top of its
        department, directly under its finance department (the unit itself when it stands alone)."""
        node = self.nodes[unit_id]
        while node.parent_id in self.nodes and self.nodes[node.parent_id].kind == UnitKind.BUDGET_UNIT:
            node = self.nodes[node.parent_id]
        return node.id

    def finance_children(self, finance_id):
        """The finance departments directly below this one, by name."""
        return sorted((n for n in self._below.get(finance_id, ()) if n.active),
                      key=lambda n: (n.city_code or "", n.name))

    def finance_subtree(self, finance_id):
        """This finance department's id and those of every finance department below it."""
        found, frontier = {finance_id}, [finance_id]
        while frontier:
            frontier = [n.id for parent in frontier for n in self._below.get(parent, ()) if n.id not in found]
            found.update(frontier)
        return found

    def units_of(self, finance_ids, *, active_only=True):
        """The budget units answering to any of these finance departments."""
        return [self.nodes[unit_id] for unit_id, finance_id in self._finance_of.items()
                if finance_id in finance_ids and (self.nodes[unit_id].active or not active_only)]

    def oversees(self, finance_id, unit_id):
        """Whether the finance department follows this budget unit (its own or a lower level's)."""
        owner = self._finance_of.get(unit_id)
        return owner is not None and owner in self.finance_subtree(finance_id)
