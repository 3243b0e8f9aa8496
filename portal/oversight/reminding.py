"""Who each level may remind, and what the message says (催报/催办).

Finance reminds the budget units below it that have not filed, the departments that have forms
waiting for their confirmation, and the units behind on the 832 platform; the province and city
offices remind the monitoring units (markets, supermarkets, platforms, enterprises, merchants,
stores) that have no record in the current period. portal/reminders.py keeps and caps them.
Nothing here reads the request.
"""
from sqlalchemy import select

from portal.accounts.kinds import UnitKind
from portal.accounts.models import Unit
from portal.extensions import db
from portal.oversight import completion
from portal.oversight.scope import OrgMap, is_overseer
from portal.records.models import PurchaseRecord, ReportingPeriod
from portal.records.rules import FILER_KINDS
from portal.reminders import Target
from portal.reservations.models import Reservation, YearPolicy
from portal.reservations.states import CONFIRMED, FINAL, SUBMITTED

FINANCE_KINDS = {"unfiled": "未填报的预算单位", "unconfirmed": "有待确认填报的主管预算单位",
                 "behind": "832平台采购完成率低于"}
OFFICE_KINDS = {"no_record": "本期未报送购销记录的单位"}


def is_office(account):
    return account.is_active and account.unit.kind in (UnitKind.PROVINCE_OFFICE, UnitKind.CITY_OFFICE)


def may_remind(account):
    return is_overseer(account) or is_office(account)


def kinds_for(account):
    return FINANCE_KINDS if is_overseer(account) else OFFICE_KINDS if is_office(account) else {}


def _units(ids):
    return {u.id: u for u in db.session.scalars(select(Unit).where(Unit.id.in_(ids)))} if ids else {}


def _deadline_text(policy):
    if policy is None:
        return "请尽快"
    return f"请于{policy.last_filing_day.month}月{policy.last_filing_day.day}日前"


def finance_targets(account, kind, *, year, day, threshold=None):
    """The targets of a finance department's reminder of `kind` over its whole subtree."""
    org = OrgMap()
    nodes = org.units_of(org.finance_subtree(account.unit_id))
    sender = account.unit.name
    if kind == "unfiled":
        policy = db.session.get(YearPolicy, year)
        figures = completion.unit_figures(nodes, year, day)
        late = [f.node.id for f in figures if f.status not in (SUBMITTED, CONFIRMED, FINAL)]
        units = _units(late)
        return [Target(units[i], "unfiled", f"【{sender}】{_deadline_text(policy)}登录门户填报本单位{year}年度"
                                             "食堂食材采购预留份额。", year) for i in late]
    if kind == "unconfirmed":
        ids = {n.id for n in nodes}
        waiting = {}
        for superior_id, status, batch_id in db.session.execute(select(
                Reservation.superior_id, Reservation.status, Reservation.batch_id).where(
                Reservation.year == year, Reservation.superior_id.is_not(None),
                Reservation.status.in_((SUBMITTED, CONFIRMED)))):
            if superior_id in ids and (status == SUBMITTED or batch_id is None):
                waiting.setdefault(superior_id, [0, 0])[0 if status == SUBMITTED else 1] += 1
        units = _units(list(waiting))
        return [Target(units[i], "unconfirmed", f"【{sender}】您单位有{to_confirm}个下级单位的{year}年度预留份额待确认、"
                                                f"{to_submit}个已确认待汇总提交财政部门，请登录门户办理。", year)
                for i, (to_confirm, to_submit) in sorted(waiting.items())]
    if kind == "behind":
        figures = completion.unit_figures(nodes, year, day)
        behind = [f for f in figures if f.node.active and f.canteen_completion is not None
                  and f.canteen_completion < threshold]
        units = _units([f.node.id for f in behind])
        return [Target(units[f.node.id], "behind",
                       f"【{sender}】截至{day.month}月{day.day}日，您单位{year}年度通过832平台采购食堂食材"
                       f"{f.bought_canteen:,.2f}元，为预留份额的{f.canteen_completion}%，请加快采购进度。", year)
                for f in sorted(behind, key=lambda f: f.canteen_completion)]
    raise ValueError(kind)


def current_period():
    """The newest open period of current records (购销信息登记)."""
    return db.session.scalar(select(ReportingPeriod).where(ReportingPeriod.fill_type == "current",
                                                           ReportingPeriod.open.is_(True))
                             .order_by(ReportingPeriod.year.desc(), ReportingPeriod.id.desc()).limit(1))


def office_targets(account, kind):
    """The monitoring units in the office's city (or the province) with no record filed in the
    current period."""
    if kind != "no_record":
        raise ValueError(kind)
    period = current_period()
    if period is None:
        return []
    query = select(Unit).where(Unit.kind.in_(FILER_KINDS), Unit.active.is_(True))
    if account.unit.kind == UnitKind.CITY_OFFICE:
        query = query.where(Unit.city_code == account.unit.city_code)
    filed = set(db.session.scalars(select(PurchaseRecord.unit_id).where(
        PurchaseRecord.period_id == period.id, PurchaseRecord.status != "draft").distinct()))
    sender = account.unit.name
    return [Target(unit, "no_record", f"【{sender}】请登录门户报送{period.name}的购销记录。", period.year)
            for unit in db.session.scalars(query.order_by(Unit.id)) if unit.id not in filed]


def targets(account, kind, *, year, day, threshold=None):
    if is_overseer(account) and kind in FINANCE_KINDS:
        return finance_targets(account, kind, year=year, day=day, threshold=threshold)
    if is_office(account) and kind in OFFICE_KINDS:
        return office_targets(account, kind)
    raise ValueError(kind)
