"""The life of a reserved-share form (DESIGN section 4), one function per step.

    draft ─submit (attested)→ submitted (待上级预算单位确认)          [locked for the unit]
    submitted ─superior confirm→ confirmed (待财政部门确认) ─department head: batch→ finance
              └superior return→ returned ─unit edits, submits again→ submitted
    confirmed ─finance confirm→ final (财政部门已确认)
              └finance return→ returned
    A unit with no superior goes from submit straight to confirmed, before its finance department.

Each step checks who acts and on which version, writes its event and audit row, makes the
confirmation sheet where one is due, and queues the SMS to the unit. The caller commits.
"""
import json

from sqlalchemy import select

from portal import audit, concurrency, reminders
from portal.accounts.models import Account
from portal.clock import format_datetime, utcnow
from portal.errors import PermissionDenied, ValidationFailed
from portal.extensions import db
from portal.notifications import notify
from portal.reservations import contacts, form_rules, queries, scope
from portal.reservations.models import Reservation, ReservationBatch, ReservationEvent
from portal.reservations.policy import filing_open
from portal.reservations.states import (
    ATTESTATION, CONFIRMED, DRAFT, EDITABLE, FINAL, RETURNED, SUBMITTED,
)

REASON_MAX = 200


class Conflict(Exception):
    def __init__(self, reservation):
        last = reservation.events[-1] if reservation.events else None
        if last is not None:
            message = (f"该预留份额已由{last.actor_unit.name}（{last.actor.name}）于{format_datetime(last.at)}"
                       f"{last.action_label}，当前状态为“{reservation.status_label}”，您的操作未执行")
        else:
            message = f"该预留份额已被修改，当前状态为“{reservation.status_label}”，请刷新后再试"
        super().__init__(message)
        self.message = message


def _check_version(reservation, expected_version):
    concurrency.check_version(reservation, expected_version, Conflict)


def _flush(reservation):
    concurrency.flush_or_conflict(reservation, Conflict)


def _event(actor, reservation, action, from_status, comment=None, now=None):
    db.session.add(ReservationEvent(reservation=reservation, actor_id=actor.id, actor_unit_id=actor.unit_id,
                                    at=now, action=action, from_status=from_status, to_status=reservation.status,
                                    comment=comment))
    audit.record(f"reservation_{action}", actor=actor, object_ref=f"reservation:{reservation.id}",
                 detail={"from": from_status, "to": reservation.status, **({"comment": comment} if comment else {})})


def _notify_unit(reservation, text):
    for phone in db.session.scalars(select(Account.phone).where(Account.unit_id == reservation.unit_id,
                                                                 Account.active.is_(True))):
        notify(phone, text, "reservation")


def last_year_of(reservation):
    return db.session.scalar(select(Reservation).where(Reservation.unit_id == reservation.unit_id,
                                                       Reservation.year == reservation.year - 1))


def form_for(actor, policy, *, now=None, save=True):
    """The unit's form of the year, opened as a draft on first use while filing is open. The
    new draft is added to the session only when `save` is true (a POST): showing the empty form
    writes nothing."""
    if not scope.is_budget_unit(actor):
        raise PermissionDenied("只有预算单位填报预留份额")
    reservation = db.session.scalar(select(Reservation).where(Reservation.unit_id == actor.unit_id,
                                                              Reservation.year == policy.year))
    if reservation is not None:
        return reservation
    if not filing_open(policy, now):
        raise ValidationFailed({"year": f"{policy.year}年度预留份额填报已于{policy.last_filing_day:%Y年%m月%d日}截止，"
                                        "如需补报请联系财政部门"})
    unit = actor.unit
    superior, finance = scope.superior_of(unit), scope.finance_of(unit)
    # No contacts yet: step 2 starts from the unit's current ones (contacts.values_for_form).
    reservation = Reservation(unit_id=unit.id, year=policy.year, status=DRAFT, flags="",
                              superior_id=superior.id if superior else None, finance_id=finance.id, unit=unit)
    if save:
        db.session.add(reservation)
        db.session.flush()
    return reservation


def _editable_by(actor, reservation):
    if reservation.unit_id != actor.unit_id or not scope.is_budget_unit(actor):
        raise PermissionDenied("只有填报单位可以修改本单位的预留份额")
    if reservation.status not in EDITABLE:
        raise PermissionDenied(f"预留份额已提交（{reservation.status_label}），不能修改；如需修改请联系上级预算单位退回")


def save_figures(actor, reservation, data, policy, *, expected_version=None):
    """Step 1. Nothing malformed is saved; a draft may stop here and come back."""
    _editable_by(actor, reservation)
    _check_version(reservation, expected_version)
    values, errors = form_rules.check_figures(data, policy)
    if errors:
        raise ValidationFailed(errors)
    for field in form_rules.FIGURE_FIELDS:
        setattr(reservation, field, values[field])
    reservation.updated_at = utcnow()
    _flush(reservation)
    return reservation


def save_contacts(actor, reservation, data, *, expected_version=None):
    """Step 2; the contacts saved become the unit's current contacts (个人中心) too."""
    _editable_by(actor, reservation)
    _check_version(reservation, expected_version)
    values, errors = form_rules.check_contacts(data)
    if errors:
        raise ValidationFailed(errors)
    for field in form_rules.CONTACT_FIELDS:
        setattr(reservation, field, values[field])
    reservation.updated_at = utcnow()
    _flush(reservation)
    contacts.follow_form(actor, reservation, now=reservation.updated_at)
    return reservation


def submit(actor, reservation, policy, *, attested, expected_version, make_sheet, now=None):
    """Step 3: the unit attests and submits; the form locks and its first sheet is made."""
    _editable_by(actor, reservation)
    _check_version(reservation, expected_version)
    if reservation.status == DRAFT and not filing_open(policy, now):
        raise ValidationFailed({"year": f"填报已于{policy.last_filing_day:%Y年%m月%d日}截止，不能再提交新的填报"})
    # Every rule again: the steps could have been skipped by a forged request.
    data = {field: _as_text(getattr(reservation, field)) for field in form_rules.FIGURE_FIELDS}
    data["union_need"] = {True: "1", False: "0"}.get(reservation.union_need)
    _, errors = form_rules.check_figures(data, policy)
    _, contact_errors = form_rules.check_contacts({f: getattr(reservation, f) for f in form_rules.CONTACT_FIELDS})
    errors.update(contact_errors)
    if not attested:
        errors["attested"] = f"请勾选确认：{ATTESTATION}"
    if errors:
        raise ValidationFailed(errors)
    now = now or utcnow()
    # The reads below (the unit's parents, last year's form) must not flush the changed form before
    # _flush: a form someone changed meanwhile would fail there as a StaleDataError (a 500) instead
    # of the Conflict _flush tells the person.
    with db.session.no_autoflush:
        unit = reservation.unit
        superior = scope.superior_of(unit)
        reservation.superior_id = superior.id if superior else None
        reservation.finance_id = scope.finance_of(unit).id
        from_status = reservation.status
        reservation.status = SUBMITTED if superior else CONFIRMED
        reservation.attested_at = reservation.submitted_at = reservation.updated_at = now
        reservation.return_reason = None
        reservation.flags = form_rules.flags_for(reservation, last_year_of(reservation), policy)
        _event(actor, reservation, "submit", from_status, now=now)
    _flush(reservation)
    make_sheet(reservation, "submitted", actor)
    return reservation


def _as_text(value):
    return None if value is None else str(value)


def _returnable_snapshot(reservation):
    return json.dumps({
        "canteen_label": reservation.canteen_label, "canteen_total": _as_text(reservation.canteen_total),
        "ratio": _as_text(reservation.ratio), "reserved_amount": _as_text(reservation.reserved_amount),
        "union_expected": _as_text(reservation.union_expected), "remark": reservation.remark,
    }, ensure_ascii=False)


def _check_step(may_act, actor, reservation, expected_version):
    """The actor may take this step now, on the version they looked at. Someone who may see the
    form but whose page is out of date is told who acted first; anyone else is refused."""
    if not may_act(actor, reservation):
        if scope.may_view(actor, reservation) and expected_version is not None \
                and int(expected_version) != reservation.version:
            raise Conflict(reservation)
        raise PermissionDenied(f"该预留份额当前状态为“{reservation.status_label}”，不在您的确认范围内")
    _check_version(reservation, expected_version)


def _confirm_as(actor, reservation, *, status, stamp, action, from_status, make_sheet, now):
    """Record a confirmation (stamp: confirmed or finalized) with its event and a new sheet."""
    reservation.status = status
    setattr(reservation, f"{stamp}_at", now)
    setattr(reservation, f"{stamp}_by_id", actor.id)
    reservation.updated_at = now
    _event(actor, reservation, action, from_status, now=now)
    _flush(reservation)
    make_sheet(reservation, {CONFIRMED: "confirmed", FINAL: "final"}[status], actor)


def confirm(actor, reservation, *, expected_version, make_sheet, now=None):
    """The superior confirms a submitted form (its subordinate's, or its own as department head)."""
    _check_step(scope.may_confirm, actor, reservation, expected_version)
    _confirm_as(actor, reservation, status=CONFIRMED, stamp="confirmed", action="confirm", from_status=SUBMITTED,
                make_sheet=make_sheet, now=now or utcnow())
    _notify_unit(reservation, f"您单位{reservation.year}年度预留份额已由{actor.unit.name}确认，"
                              "待财政部门确认。")
    return reservation


def _return(actor, reservation, action, reason, now):
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed({"reason": "退回时请填写退回原因"})
    if len(reason) > REASON_MAX:
        raise ValidationFailed({"reason": f"退回原因不能超过{REASON_MAX}个字"})
    from_status = reservation.status
    reservation.status = RETURNED
    reservation.return_reason = reason
    reservation.returned_values = _returnable_snapshot(reservation)
    # A returned form is nobody's confirmed form any more; the events keep who had confirmed it.
    reservation.batch_id = None
    reservation.confirmed_at = reservation.confirmed_by_id = None
    reservation.finalized_at = reservation.finalized_by_id = None
    reservation.updated_at = now
    _event(actor, reservation, action, from_status, comment=reason, now=now)
    _flush(reservation)
    _notify_unit(reservation, f"您单位{reservation.year}年度预留份额被{actor.unit.name}退回，原因：{reason}。"
                              "请登录门户修改后重新提交。")
    return reservation


def return_to_unit(actor, reservation, *, expected_version, reason, now=None):
    """The superior returns a submitted form with a reason."""
    _check_step(scope.may_confirm, actor, reservation, expected_version)
    return _return(actor, reservation, "return", reason, now or utcnow())


def department_readiness(head, year):
    """(ready forms, problems): the department's forms and what keeps a batch back."""
    ready, problems = [], []
    for unit, form in queries.department_forms(head.id, year):
        if form is None or form.status in (DRAFT, SUBMITTED, RETURNED):
            problems.append(queries.problem_line(unit.name, form.status if form else None))
        elif form.status == CONFIRMED and form.batch_id is None:
            ready.append(form)
    return ready, problems


def submit_batch(actor, year, *, now=None):
    """The department head sends its department's confirmed forms to the finance department,
    once every unit's form is confirmed."""
    head = actor.unit
    if not scope.is_budget_unit(actor) or scope.department_head(head).id != head.id or not scope.has_subordinates(head):
        raise PermissionDenied("只有主管预算单位可以汇总提交财政部门")
    ready, problems = department_readiness(head, year)
    if problems:
        raise ValidationFailed({"batch": "以下单位尚未确认，暂不能汇总提交：" + "；".join(problems)})
    if not ready:
        raise ValidationFailed({"batch": "没有待汇总提交的预留份额"})
    now = now or utcnow()
    batch = ReservationBatch(year=year, head_unit_id=head.id, finance_id=scope.finance_of(head).id,
                             submitted_at=now, submitted_by_id=actor.id)
    db.session.add(batch)
    for form in ready:
        form.batch = batch
        form.updated_at = now
        _event(actor, form, "batch", CONFIRMED, now=now)
    db.session.flush()
    return batch


def finalize(actor, reservation, *, expected_version, make_sheet, now=None):
    """The finance department confirms (财政部门已确认)."""
    _check_step(scope.may_finalize, actor, reservation, expected_version)
    _confirm_as(actor, reservation, status=FINAL, stamp="finalized", action="finance_confirm", from_status=CONFIRMED,
                make_sheet=make_sheet, now=now or utcnow())
    _notify_unit(reservation, f"您单位{reservation.year}年度预留份额已由{actor.unit.name}确认。")
    return reservation


def finance_return(actor, reservation, *, expected_version, reason, now=None):
    """The finance department returns a confirmed form to its unit with a reason."""
    _check_step(scope.may_finalize, actor, reservation, expected_version)
    return _return(actor, reservation, "finance_return", reason, now or utcnow())


def remind_unfiled(actor, year, policy):
    """Remind the department's units that have not filed, through portal/reminders.py (kept, and
    capped per unit per day across every sender). Returns the targets, each sent or skipped."""
    head = actor.unit
    if not scope.is_budget_unit(actor):
        raise PermissionDenied()
    targets = []
    for unit, form in queries.department_forms(head.id, year):
        if unit.id == head.id or (form is not None and form.status != DRAFT):
            continue
        targets.append(reminders.Target(unit, "unfiled", f"【{head.name}】请于{policy.last_filing_day:%m月%d日}前登录门户"
                                                         f"填报本单位{year}年度预留份额。", year))
    reminders.send(actor, targets)
    audit.record("reservation_remind", actor=actor, detail={"year": year, "units": len(targets)})
    return targets
