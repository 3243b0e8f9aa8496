"""A finance department's list of its budget units (预算单位管理): its filters, and the same list as
an Excel workbook through the exporter (portal/jobs/exports.py), written by the worker when large.
The list and the file are the account's own finance department's units, whatever the URL says;
mobile numbers are masked in both, as everywhere a list shows them."""
from dataclasses import dataclass

from sqlalchemy import select

from portal.accounts.kinds import UnitKind
from portal.accounts.models import Account
from portal.clock import format_datetime
from portal.extensions import db
from portal.jobs.exports import Export, exporter
from portal.params import Reader
from portal.reservations import unit_changes, unit_import

STATUS_LABELS = {"active": "正常", "closed": "已撤销"}
SEARCH_MAX = 100
TEXT = "@"
COLUMNS = [("序号", 6, None), ("单位名称", 36, None), ("统一社会信用代码", 22, TEXT), ("上级预算单位", 30, None),
           ("层级", 6, None), ("管理员", 12, None), ("手机号码", 14, TEXT), ("状态", 8, None), ("开通时间", 18, None)]


@dataclass
class UnitFilters:
    """The list's filters; a value the list does not know is left out."""

    #: part of the unit's name or credit code
    q: str = ""
    #: "", or a key of STATUS_LABELS
    status: str = ""

    @classmethod
    def from_args(cls, args):
        status = args.get("status", "")
        return cls(q=Reader(args).text("q", max_length=SEARCH_MAX),
                   status=status if status in STATUS_LABELS else "")

    def as_args(self):
        return {key: value for key, value in vars(self).items() if value}

    def matches(self, unit):
        if self.status and unit.active != (self.status == "active"):
            return False
        return not self.q or self.q in unit.name or self.q.upper() in (unit.credit_code or "")


def listed_units(finance, filters, every=None):
    """(unit, depth) of the finance department's budget units the filters keep, in tree order
    (of `every`, its unit_changes.units_under, when the caller has it already)."""
    every = unit_changes.units_under(finance) if every is None else every
    return [(unit, depth) for unit, depth in every if filters.matches(unit)]


def _admins_by_unit(unit_ids):
    admins = {}
    for start in range(0, len(unit_ids), 500):
        for account in db.session.scalars(select(Account).where(Account.unit_id.in_(unit_ids[start:start + 500]))
                                          .order_by(Account.id)):
            if account.is_admin:
                admins.setdefault(account.unit_id, []).append(account)
    return admins


def _superior_name(unit):
    return unit.parent.name if unit.parent is not None and unit.parent.kind == UnitKind.BUDGET_UNIT else ""


@exporter("budget_units.list", may=unit_import.may_import)
def unit_list_export(account, args):
    """The finance department's budget units under the page's filters."""
    finance = account.unit
    units = listed_units(finance, UnitFilters.from_args(args))
    title = f"{finance.name}预算单位"

    def values():
        admins = _admins_by_unit([unit.id for unit, _ in units])
        for index, (unit, depth) in enumerate(units, start=1):
            people = admins.get(unit.id, [])
            yield [index, unit.name, unit.credit_code or "", _superior_name(unit) or "—（直属本财政部门）",
                   depth + 1, "、".join(person.name for person in people),
                   "、".join(person.masked_phone for person in people),
                   STATUS_LABELS["active" if unit.active else "closed"], format_datetime(unit.created_at)]

    return Export(title, [(title[:31], COLUMNS, values())], len(units))
