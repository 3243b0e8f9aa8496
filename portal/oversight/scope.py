"""Who oversees what: a finance department follows its own budget units and, through the finance
departments below it (province → city → county), theirs. One map of the tree, read once per
question, answers every "is this unit mine" without a query per unit."""
from dataclasses import dataclass

from sqlalchemy import select

from portal.accounts.kinds import UnitKind
from portal.accounts.models import Unit
from portal.extensions import db


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
    """Every finance department and budget unit, with the finance department each budget unit
    answers to (the nearest one above it)."""

    def __init__(self):
        rows = db.session.execute(select(
            Unit.id, Unit.parent_id, Unit.kind, Unit.name, Unit.city_code, Unit.finance_level, Unit.active,
        ).where(Unit.kind.in_((UnitKind.FINANCE, UnitKind.BUDGET_UNIT)))).all()
        self.nodes = {row.id: Node(*row) for row in rows}
        self._finance_of = {}
        for node in self.nodes.values():
            if node.kind == UnitKind.BUDGET_UNIT:
                self._finance_of[node.id] = self._nearest_finance(node)

    def _nearest_finance(self, node):
        seen = set()
        parent = self.nodes.get(node.parent_id)
        while parent is not None and parent.kind != UnitKind.FINANCE and parent.id not in seen:
            seen.add(parent.id)
            parent = self.nodes.get(parent.parent_id)
        return parent.id if parent is not None and parent.kind == UnitKind.FINANCE else None

    def finance_of(self, unit_id):
        return self._finance_of.get(unit_id)

    def finance_children(self, finance_id):
        """The finance departments directly below this one, by name."""
        return sorted((n for n in self.nodes.values() if n.kind == UnitKind.FINANCE and n.parent_id == finance_id
                       and n.active), key=lambda n: (n.city_code or "", n.name))

    def finance_subtree(self, finance_id):
        """This finance department's id and those of every finance department below it."""
        found, frontier = {finance_id}, [finance_id]
        while frontier:
            frontier = [n.id for n in self.nodes.values() if n.kind == UnitKind.FINANCE
                        and n.parent_id in frontier and n.id not in found]
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
