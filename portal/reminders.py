"""Reminders (催报/催办) by SMS, from any level to the units below it: each one kept (who sent it,
when, to which unit, why, what it said), and capped per unit per day whoever sends them, so
that a unit reminded by its superior, its finance department and the province on one morning
gets two messages, not six.

Both workflows and the oversight area send through here; it knows neither. A send is planned
first (who will get what, who is over the cap) so that the person sees it before anything
goes; the plan is computed again when sent. Nothing here reads the request; callers commit.
"""
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Date, DateTime, ForeignKey, Index, Integer, String, func, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal import audit
from portal.accounts.models import Account
from portal.clock import to_china, utcnow
from portal.extensions import db
from portal.notifications import notify

#: reminders one unit receives in one day (China time), from all senders together
DAILY_CAP = 2
TEXT_MAX = 300

REASONS = {
    "unfiled": "未填报预留份额",
    "unconfirmed": "下级单位预留份额待确认",
    "behind": "832平台采购进度落后",
    "no_record": "本期未报送购销记录",
    "overdue": "逾期未确认（上报）",
}


class Reminder(db.Model):
    __tablename__ = "reminder"
    __table_args__ = (Index("ix_reminder_unit_day", "unit_id", "day"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sent_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    #: the day in China, which the daily cap counts
    day: Mapped[datetime] = mapped_column(Date)
    #: None for the portal's own escalations (a deadline passed)
    sender_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"))
    sender_unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"))
    reason: Mapped[str] = mapped_column(String(12))
    year: Mapped[int | None] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(String(TEXT_MAX))
    #: how many of the unit's accounts the message went to
    recipients: Mapped[int] = mapped_column(Integer)

    sender = relationship("Account")
    sender_unit = relationship("Unit", foreign_keys=[sender_unit_id])
    unit = relationship("Unit", foreign_keys=[unit_id])

    @property
    def reason_label(self):
        return REASONS.get(self.reason, self.reason)


@dataclass
class Target:
    """One unit to remind, why, and what to say."""

    unit: object
    reason: str
    text: str
    year: int | None = None
    #: filled in by plan(): the masked numbers it goes to, and why it will not go
    phones: list = field(default_factory=list)
    skipped: str | None = None


def sent_today(unit_ids, day):
    """unit id -> reminders it received on `day`."""
    if not unit_ids:
        return {}
    counts = {}
    ids = list(unit_ids)
    for start in range(0, len(ids), 900):
        counts.update(db.session.execute(
            select(Reminder.unit_id, func.count(Reminder.id)).where(Reminder.day == day,
                                                                   Reminder.unit_id.in_(ids[start:start + 900]))
            .group_by(Reminder.unit_id)).all())
    return counts


def _accounts(unit_ids):
    found = {}
    ids = list(unit_ids)
    for start in range(0, len(ids), 900):
        for account in db.session.scalars(select(Account).where(Account.unit_id.in_(ids[start:start + 900]),
                                                                Account.active.is_(True)).order_by(Account.id)):
            found.setdefault(account.unit_id, []).append(account)
    return found


def plan(targets, now=None):
    """Mark each target with the numbers it goes to, or why it will not be sent."""
    day = to_china(now or utcnow()).date()
    counts = sent_today({t.unit.id for t in targets}, day)
    accounts = _accounts({t.unit.id for t in targets})
    planned = {}
    for target in targets:
        target.phones = [a.phone_masked for a in accounts.get(target.unit.id, [])]
        already = counts.get(target.unit.id, 0) + planned.get(target.unit.id, 0)
        if not target.phones:
            target.skipped = "该单位没有可用账号"
        elif already >= DAILY_CAP:
            target.skipped = f"今日已提醒{already}次，达到每日上限"
        else:
            planned[target.unit.id] = planned.get(target.unit.id, 0) + 1
    return targets


def send(sender, targets, now=None):
    """Plan, then queue each unplanned-out target's SMS to every active account of its unit and
    keep the reminder; returns the reminders kept. The caller commits."""
    now = now or utcnow()
    day = to_china(now).date()
    plan(targets, now)
    accounts = _accounts({t.unit.id for t in targets if t.skipped is None})
    kept = []
    for target in targets:
        if target.skipped is not None:
            continue
        for account in accounts[target.unit.id]:
            notify(account.phone, target.text, f"reminder_{target.reason}", created_by=sender)
        reminder = Reminder(sent_at=now, day=day, sender_id=sender.id if sender else None,
                            sender_unit_id=sender.unit_id if sender else None, unit_id=target.unit.id,
                            reason=target.reason, year=target.year, text=target.text[:TEXT_MAX],
                            recipients=len(accounts[target.unit.id]))
        db.session.add(reminder)
        kept.append(reminder)
    db.session.flush()
    if kept or sender is not None:
        audit.record("reminders_sent", actor=sender, detail={
            "reasons": sorted({r.reason for r in kept}), "units": [r.unit_id for r in kept],
            "skipped": len([t for t in targets if t.skipped])})
    return kept


def received(unit_id, limit=50):
    """The reminders a unit received, newest first."""
    return db.session.scalars(select(Reminder).where(Reminder.unit_id == unit_id)
                              .order_by(Reminder.id.desc()).limit(limit)).all()
