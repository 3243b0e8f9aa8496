"""The year's confirmation deadlines, enforced: a form waiting past the superior's deadline is
escalated to its finance department, one waiting past finance's deadline to the finance
department above (province for a city, city for a county). Run daily (`flask escalate-overdue`
from portal-daily); the daily cap of portal/reminders.py keeps a department from being told
twice a day. Nothing here reads the request; the caller commits."""
from collections import Counter

from sqlalchemy import select

from portal.accounts.kinds import UnitKind
from portal.accounts.models import Unit
from portal.extensions import db
from portal.reminders import Target, send
from portal.reservations.models import Reservation, YearPolicy
from portal.reservations.policy import china_today
from portal.reservations.states import CONFIRMED, SUBMITTED


def overdue_targets(policy, today):
    """One target per unit to tell: the finance departments of late superiors, and the finance
    departments above late finance departments."""
    late_superiors, late_finance = Counter(), Counter()
    if policy.superior_deadline and today > policy.superior_deadline:
        for finance_id, superior_id in db.session.execute(select(Reservation.finance_id, Reservation.superior_id).where(
                Reservation.year == policy.year, Reservation.status == SUBMITTED,
                Reservation.superior_id.is_not(None))):
            late_superiors[(finance_id, superior_id)] += 1
    if policy.finance_deadline and today > policy.finance_deadline:
        for (finance_id,) in db.session.execute(select(Reservation.finance_id).where(
                Reservation.year == policy.year, Reservation.status == CONFIRMED)):
            late_finance[finance_id] += 1
    units = {u.id: u for u in db.session.scalars(select(Unit).where(Unit.id.in_(
        {f for f, _ in late_superiors} | {s for _, s in late_superiors} | set(late_finance))))}
    parts = {}  # the unit told -> (unit, what is late below it)
    for (finance_id, superior_id), count in sorted(late_superiors.items()):
        parts.setdefault(finance_id, (units[finance_id], []))[1].append(
            f"{units[superior_id].name}有{count}份逾期未确认（截止{policy.superior_deadline:%m月%d日}）")
    for finance_id, count in sorted(late_finance.items()):
        parent = units[finance_id].parent
        if parent is not None and parent.kind == UnitKind.FINANCE:
            parts.setdefault(parent.id, (parent, []))[1].append(
                f"{units[finance_id].name}有{count}份逾期未确认（截止{policy.finance_deadline:%m月%d日}）")
    targets = [Target(unit, "overdue", f"【门户提醒】{policy.year}年度预留份额：" + "；".join(late) + "。请督促办理。",
                      policy.year) for unit, late in parts.values()]
    return targets


def escalate(now=None):
    """Send today's escalations for every year's policy; returns the reminders kept."""
    today = china_today(now)
    kept = []
    for policy in db.session.scalars(select(YearPolicy).order_by(YearPolicy.year)):
        targets = overdue_targets(policy, today)
        if targets:
            kept += send(None, targets, now)
    return kept
