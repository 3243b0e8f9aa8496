"""The life of a purchase record (DESIGN section 3), one function per transition.

Each checks who may act, that the actor saw the current version, moves the state,
writes its review event and audit row, and updates the queue counters, totals and
price statistics in the same transaction. The caller commits.

    merchant / store:   draft ─submit→ filed ─first approve→ submitted ─city approve→ approved
    other filers:       draft ─submit→ submitted ─city approve→ approved
    filed or submitted ─return (reason)→ returned ─edit, submit again→ filed / submitted
"""
import json

from sqlalchemy import select

from portal import audit, concurrency
from portal.accounts.models import Account
from portal.clock import format_datetime, utcnow
from portal.errors import PermissionDenied, ValidationFailed
from portal.extensions import db
from portal.notifications import notify
from portal.records import breakdowns, rules
from portal.records.counting import add_to, add_to_many
from portal.records.entry import FIELD_LABELS, missing_for_submit, snapshot
from portal.records.flags import add_price_sample, compute_flags
from portal.records.models import QueueCounter, RecordTotal, ReviewEvent
from portal.records.states import APPROVED, FILED, RETURNED, STATUS_LABELS, SUBMITTED

RETURN_REASON_MAX = 200


class Conflict(Exception):
    """Someone else acted on the record first; `message` says who, when and what."""

    def __init__(self, record):
        last = record.events[-1] if record.events else None
        if last is not None:
            when = format_datetime(last.at)
            message = (f"该记录已由{last.actor_unit.name}（{last.actor.name}）于{when}"
                       f"处理，当前状态为“{STATUS_LABELS[record.status]}”，您的操作未执行")
        else:
            message = f"该记录已被修改，当前状态为“{STATUS_LABELS[record.status]}”，请刷新后再试"
        super().__init__(message)
        self.message = message
        self.record = record


def _count(*changes):
    """Add to the queue counters: each change is (key, delta); a None key counts nothing."""
    add_to_many(QueueCounter, [{"key": key, "count": delta} for key, delta in changes if key],
                keys=("key",), increments=("count",))


def _moved(record, from_status):
    """The filing unit's status counters as the record leaves `from_status` for its status now."""
    return ((rules.unit_status_key(record.unit_id, from_status), -1),
            (rules.unit_status_key(record.unit_id, record.status), 1))


def count_new_draft(record):
    _count((rules.unit_status_key(record.unit_id, record.status), 1))


def _queue_key(record, status):
    if status == FILED:
        return f"first:{record.first_reviewer_id}"
    if status == SUBMITTED:
        return f"city:{record.city_scope}"
    return None


def _event(actor, record, action, from_status, comment=None, changes=None, snapshot_of=None, now=None):
    event = ReviewEvent(record=record, actor_id=actor.id, actor_unit_id=actor.unit_id, at=now,
                        action=action, from_status=from_status, to_status=record.status, comment=comment,
                        changes=json.dumps(changes, ensure_ascii=False) if changes else None,
                        snapshot=json.dumps(snapshot_of, ensure_ascii=False) if snapshot_of else None)
    db.session.add(event)
    audit.record(f"record_{action}", actor=actor, object_ref=f"record:{record.id}",
                 detail={"from": from_status, "to": record.status, **({"comment": comment} if comment else {})})
    return event


def _changes_since_return(record):
    last_return = next((e for e in reversed(record.events) if e.action == "return"), None)
    if last_return is None or not last_return.snapshot:
        return None
    before, after = json.loads(last_return.snapshot), snapshot(record)
    return {FIELD_LABELS[field]: [before.get(field), after.get(field)]
            for field in after if before.get(field) != after.get(field)}


def flush_or_conflict(record):
    """The transition's one write of the row. Between the version check and here each transition
    reads under no_autoflush: a lazy load (the snapshot's period and
    category, the events) would otherwise flush the changed row early, and a row someone changed
    meanwhile would fail there as a StaleDataError, a 500, instead of the Conflict below."""
    concurrency.flush_or_conflict(record, Conflict)


def submit(actor, record, *, expected_version=None, amount_threshold, now=None):
    if not rules.may_edit(actor, record):
        raise PermissionDenied("只有填报单位可以提交草稿或退回修改的记录")
    concurrency.check_version(record, expected_version, Conflict)
    missing = missing_for_submit(record)
    if missing:
        raise ValidationFailed(missing)
    now = now or utcnow()
    from_status = record.status
    with db.session.no_autoflush:  # the flags' queries must not write the row early
        record.flags = compute_flags(record, amount_threshold)
    record.status = FILED if record.first_reviewer_id else SUBMITTED
    record.submitted_at = record.updated_at = now
    record.return_reason = None
    if record.status == SUBMITTED and record.reached_city_at is None:
        record.reached_city_at = now
    with db.session.no_autoflush:  # see flush_or_conflict
        changes = _changes_since_return(record) if from_status == RETURNED else None
        _event(actor, record, "submit", from_status, changes=changes, now=now)
    flush_or_conflict(record)
    _count((_queue_key(record, record.status), 1), *_moved(record, from_status))
    return record


def _review_level(actor, record, expected_version):
    """The level at which the actor acts now; a reviewer who saw an older version is told who
    moved the record first, anyone else is refused."""
    level = rules.review_level(actor, record)
    if level is not None:
        concurrency.check_version(record, expected_version, Conflict)
        return level
    if (rules.is_reviewer(actor) and rules.may_view(actor, record) and expected_version is not None
            and int(expected_version) != record.version):
        raise Conflict(record)
    raise PermissionDenied("该记录当前不在您的审核范围内")


def approve(actor, record, *, expected_version, now=None):
    level = _review_level(actor, record, expected_version)
    now = now or utcnow()
    from_status = record.status
    if level == "first":
        record.status = SUBMITTED
        if record.reached_city_at is None:
            record.reached_city_at = now
    else:
        record.status = APPROVED
        record.approved_at = now
    record.updated_at = now
    with db.session.no_autoflush:  # see flush_or_conflict
        _event(actor, record, "approve", from_status, now=now)
    flush_or_conflict(record)
    _count((_queue_key(record, from_status), -1), (_queue_key(record, record.status), 1),
           (f"done:{actor.unit_id}", 1), *_moved(record, from_status))
    if record.status == APPROVED:
        add_to(RecordTotal, {"period_id": record.period_id, "city_scope": record.city_scope,
                             "channel": record.channel, "origin_county_code": record.origin_county_code,
                             "category_id": record.category_id},
               {"record_count": 1, "amount": record.amount})
        breakdowns.add_approved(record, now)
        add_price_sample(record)
    return record


def return_for_changes(actor, record, *, expected_version, reason, now=None):
    """Send the record back to its original filer with a reason (退回修改 / 市级退回)."""
    level = _review_level(actor, record, expected_version)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed({"reason": "退回时请填写退回原因"})
    if len(reason) > RETURN_REASON_MAX:
        raise ValidationFailed({"reason": f"退回原因不能超过{RETURN_REASON_MAX}个字"})
    now = now or utcnow()
    from_status = record.status
    record.status = RETURNED
    record.return_reason = reason
    record.updated_at = now
    with db.session.no_autoflush:  # see flush_or_conflict
        _event(actor, record, "return", from_status, comment=reason, snapshot_of=snapshot(record), now=now)
    flush_or_conflict(record)
    _count((_queue_key(record, from_status), -1), (f"done:{actor.unit_id}", 1), *_moved(record, from_status))
    who = "市级审核" if level == "city" else actor.unit.name
    for phone in db.session.scalars(select(Account.phone).where(Account.unit_id == record.unit_id,
                                                                 Account.active.is_(True))):
        notify(phone, f"您单位填报的购销记录（编号{record.id}，{record.product_name}）被{who}退回修改，"
                      f"原因：{reason}。请登录门户修改后重新提交。", "record_returned")
    return record

