"""The reserved-share workflow (DESIGN section 4), exhaustively on the domain functions: every state ×
every action × every role of build_tree(). Exactly the allowed transitions happen; every other attempt
is refused and changes nothing. Real database, real domain operations; only the PDF maker is a stub
that records what it was asked for."""
import json
from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from portal.accounts import service as account_service
from portal.audit import AuditEvent
from portal.clock import to_china, utcnow
from portal.errors import PermissionDenied, ValidationFailed
from portal.extensions import db
from portal.jobs.queue import pending
from portal.reservations import queries, workflow
from portal.reservations.models import ConfirmationSheet, Reservation, ReservationBatch, ReservationEvent, YearPolicy
from tests.factories import build_tree

FIGURES = {"canteen_type": "own", "remark": "", "canteen_total": "1000000", "ratio": "30", "union_need": "1",
           "union_total": "200000", "union_ratio": "20", "union_remark": ""}
CONTACTS = {"contact_name": "李晓明", "contact_mobile": "13912345678", "contact_landline": "020-83133000"}
REASON = "采购总额与预算不符"

#: each budget unit of the tree: (the role that confirms before finance, the finance department)
OWNERS = {
    "budget_unit": ("superior_budget", "province_finance"),      # 省实验中学 under 省教育厅
    "superior_budget": ("superior_budget", "province_finance"),  # 省教育厅, a department head: confirms its own
    "gz_budget": (None, "gz_finance"),                           # stands alone under 广州市财政局
}
#: who may see each owner's forms: the unit, its superior (and department head), its finance department
VIEWERS = {
    "budget_unit": {"budget_unit", "superior_budget", "province_finance"},
    "superior_budget": {"superior_budget", "province_finance"},
    "gz_budget": {"gz_budget", "gz_finance"},
}
#: the states a form can be in; "batched" is confirmed and in a batch, "returned_finance" returned by finance
STATES = ("draft", "submitted", "confirmed", "batched", "final", "returned", "returned_finance")
STATUS_OF = {"batched": "confirmed", "returned_finance": "returned"}
FORM_ACTIONS = ("save_figures", "save_contacts", "submit", "confirm", "return_to_unit", "finalize", "finance_return")
#: the event each transition writes, and the sheet it asks for
EVENT_OF = {"submit": "submit", "confirm": "confirm", "return_to_unit": "return", "finalize": "finance_confirm",
            "finance_return": "finance_return"}
SHEET_OF = {"submit": "submitted", "confirm": "confirmed", "finalize": "final"}
NOTIFIES = ("confirm", "return_to_unit", "finalize", "finance_return")


def owner_states(owner):
    if OWNERS[owner][0] is None:
        # no superior: submit goes straight to confirmed, and only finance returns it
        return ("draft", "confirmed", "final", "returned_finance")
    return STATES


def expected_outcome(owner, state, action, role):
    """DESIGN's table, written out independently of scope.py: the status reached, or None."""
    superior, finance = OWNERS[owner]
    status = STATUS_OF.get(state, state)
    if action in ("save_figures", "save_contacts", "submit"):
        if role == owner and status in ("draft", "returned"):
            if action == "submit":
                return "submitted" if superior else "confirmed"
            return status
        return None
    if action in ("confirm", "return_to_unit"):
        if state == "submitted" and role == superior:
            return "confirmed" if action == "confirm" else "returned"
        return None
    assert action in ("finalize", "finance_return")
    if role == finance and (state == "batched" or (state == "confirmed" and superior is None)):
        return "final" if action == "finalize" else "returned"
    return None


class SheetStub:
    """Stands in for sheets.make_sheet: records each (form, stage, actor) it is asked for."""

    def __init__(self):
        self.calls = []

    def __call__(self, reservation, stage, actor):
        self.calls.append((reservation.id, stage, actor.id))

    def stages(self, reservation_id):
        return [stage for rid, stage, _ in self.calls if rid == reservation_id]


@pytest.fixture
def t(app, ctx):
    made = build_tree()
    db.session.commit()
    return made


@pytest.fixture
def sheets():
    return SheetStub()


def open_policy(year, **overrides):
    """A year whose filing is open for another month (Guangdong's figures)."""
    today = to_china(utcnow()).date()
    values = dict(year=year, min_ratio=Decimal("30"), encouraged_ratio=Decimal("15"), national_floor=Decimal("10"),
                  filing_deadline=today + timedelta(days=30), flag_below_last_year=True)
    values.update(overrides)
    policy = YearPolicy(**values)
    db.session.add(policy)
    db.session.flush()
    return policy


def filled_draft(actor, policy, **figures):
    form = workflow.form_for(actor, policy)
    workflow.save_figures(actor, form, {**FIGURES, **figures}, policy, expected_version=form.version)
    workflow.save_contacts(actor, form, CONTACTS, expected_version=form.version)
    return form


def build_year(t, year, state, make_sheet):
    """A fresh year in which every owner that can be in `state` has a form in it, brought there
    through the real workflow; the department's two forms move together (a batch needs both)."""
    policy = open_policy(year)
    forms = {owner: filled_draft(getattr(t, owner), policy) for owner in OWNERS if state in owner_states(owner)}
    if state != "draft":
        for owner, form in forms.items():
            workflow.submit(getattr(t, owner), form, policy, attested=True, expected_version=form.version,
                            make_sheet=make_sheet)
    department = [forms[o] for o in ("budget_unit", "superior_budget") if o in forms]
    if state == "returned":
        for form in department:
            workflow.return_to_unit(t.superior_budget, form, expected_version=form.version, reason="先退回一次")
    elif state in ("confirmed", "batched", "final", "returned_finance"):
        for form in department:
            workflow.confirm(t.superior_budget, form, expected_version=form.version, make_sheet=make_sheet)
        if state != "confirmed":
            workflow.submit_batch(t.superior_budget, year)
        for owner, form in forms.items():
            finance = getattr(t, OWNERS[owner][1])
            if state == "final":
                workflow.finalize(finance, form, expected_version=form.version, make_sheet=make_sheet)
            elif state == "returned_finance":
                workflow.finance_return(finance, form, expected_version=form.version, reason="财政部门退回一次")
    db.session.commit()
    for owner, form in forms.items():
        assert form.status == STATUS_OF.get(state, state), (owner, state)
        in_batch = state in ("batched", "final") and OWNERS[owner][0] is not None
        assert (form.batch_id is not None) == in_batch, (owner, state)
    return forms


def act(actor, form, action, version, make_sheet, reason=REASON):
    policy = db.session.get(YearPolicy, form.year)
    if action == "save_figures":
        return workflow.save_figures(actor, form, {**FIGURES, "canteen_total": "1200000"}, policy,
                                     expected_version=version)
    if action == "save_contacts":
        return workflow.save_contacts(actor, form, {**CONTACTS, "contact_name": "张伟"}, expected_version=version)
    if action == "submit":
        return workflow.submit(actor, form, policy, attested=True, expected_version=version, make_sheet=make_sheet)
    if action == "confirm":
        return workflow.confirm(actor, form, expected_version=version, make_sheet=make_sheet)
    if action == "return_to_unit":
        return workflow.return_to_unit(actor, form, expected_version=version, reason=reason)
    if action == "finalize":
        return workflow.finalize(actor, form, expected_version=version, make_sheet=make_sheet)
    assert action == "finance_return"
    return workflow.finance_return(actor, form, expected_version=version, reason=reason)


def pending_sms():
    """The numbers the current transaction has queued a message to."""
    return [json.loads(job.payload)["phone"] for job in pending() if job.kind == "sms"]


def db_state(form_ids, make_sheet):
    """What a refused attempt must not change."""
    db.session.expire_all()
    forms = {r.id: (r.status, r.version, r.batch_id, r.confirmed_by_id, r.finalized_by_id, r.return_reason,
                    r.canteen_total, r.contact_name)
             for r in db.session.scalars(select(Reservation).where(Reservation.id.in_(form_ids)))}
    counts = [db.session.scalar(select(func.count()).select_from(model))
              for model in (ReservationEvent, AuditEvent, ConfirmationSheet, ReservationBatch, Reservation)]
    return forms, counts, len(make_sheet.calls)


def assert_untouched():
    assert not (db.session.new or db.session.dirty or db.session.deleted)
    assert pending_sms() == []


def test_every_state_action_role(t, sheets):
    roles = dict(vars(t))
    assert len(roles) == 29  # every account of the tree, the three administrators included
    forms = {}
    for offset, state in enumerate(STATES):
        for owner, form in build_year(t, 2201 + offset, state, sheets).items():
            forms[(owner, state)] = form
    assert len(forms) == 7 + 7 + 4
    ids = [form.id for form in forms.values()]
    before = db_state(ids, sheets)

    allowed, refused = [], 0
    for (owner, state), form in forms.items():
        for action in FORM_ACTIONS:
            for role, actor in roles.items():
                outcome = expected_outcome(owner, state, action, role)
                if outcome is not None:
                    allowed.append((owner, state, action, role, outcome))
                    # A stale version is a conflict for whoever may act, and changes nothing.
                    with pytest.raises(workflow.Conflict):
                        act(actor, form, action, form.version - 1, sheets)
                    assert_untouched()
                    continue
                with pytest.raises(PermissionDenied):
                    act(actor, form, action, form.version, sheets)
                assert_untouched()
                # With a stale version, someone who may see the form is told it moved on (for the
                # confirming steps); anyone else is simply refused.
                stale_is_conflict = action in ("confirm", "return_to_unit", "finalize", "finance_return") \
                    and role in VIEWERS[owner]
                with pytest.raises(workflow.Conflict if stale_is_conflict else PermissionDenied):
                    act(actor, form, action, form.version - 1, sheets)
                assert_untouched()
                refused += 2

    # The batch: only the department head, only once every form of its department is confirmed.
    for offset, state in enumerate(STATES):
        year = 2201 + offset
        for role, actor in roles.items():
            if role == "superior_budget" and state == "confirmed":
                allowed.append(("superior_budget", state, "submit_batch", role, "confirmed"))
                continue
            if role == "superior_budget":
                # its to do, but not now: nothing (or not everything) is waiting to go to finance
                with pytest.raises(ValidationFailed) as not_ready:
                    workflow.submit_batch(actor, year)
                assert set(not_ready.value.errors) == {"batch"}
            else:
                with pytest.raises(PermissionDenied):
                    workflow.submit_batch(actor, year)
            assert_untouched()
            refused += 1
    db.session.rollback()
    assert db_state(ids, sheets) == before
    assert refused > 6000

    seen = Counter((action, state) for _, state, action, _, _ in allowed)
    assert seen == {
        ("save_figures", "draft"): 3, ("save_contacts", "draft"): 3, ("submit", "draft"): 3,
        ("save_figures", "returned"): 2, ("save_contacts", "returned"): 2, ("submit", "returned"): 2,
        ("save_figures", "returned_finance"): 3, ("save_contacts", "returned_finance"): 3,
        ("submit", "returned_finance"): 3,
        ("confirm", "submitted"): 2, ("return_to_unit", "submitted"): 2,
        ("finalize", "batched"): 2, ("finance_return", "batched"): 2,
        ("finalize", "confirmed"): 1, ("finance_return", "confirmed"): 1,  # gz_budget, filed alone
        ("submit_batch", "confirmed"): 1,
    }
    # the department head confirms its own form and its subordinate's
    assert {(owner, role) for owner, _, action, role, _ in allowed if action == "confirm"} == {
        ("budget_unit", "superior_budget"), ("superior_budget", "superior_budget")}

    # Each allowed step, applied to a form of a fresh year.
    for number, (owner, state, action, role, outcome) in enumerate(allowed):
        year = 2301 + number
        fresh = build_year(t, year, state, sheets)
        actor = roles[role]
        if action == "submit_batch":
            check_batch(t, actor, fresh, year, sheets)
            continue
        form = fresh[owner]
        check_step(t, actor, owner, form, state, action, outcome, sheets)


def check_step(t, actor, owner, form, state, action, outcome, sheets):
    from_status = form.status
    version, events_before, calls_before = form.version, len(form.events), len(sheets.calls)
    audits_before = db.session.scalar(select(func.count()).select_from(AuditEvent)
                                      .where(AuditEvent.object_ref == f"reservation:{form.id}"))
    act(actor, form, action, form.version, sheets)
    db.session.flush()
    label = (owner, state, action)
    assert form.status == outcome and form.version > version, label
    db.session.expire(form, ["events"])
    audits = db.session.scalars(select(AuditEvent).where(AuditEvent.object_ref == f"reservation:{form.id}")
                                .order_by(AuditEvent.id)).all()
    new_calls = sheets.calls[calls_before:]
    if action in ("save_figures", "save_contacts"):
        assert len(form.events) == events_before and len(audits) == audits_before, label
        assert new_calls == [] and pending_sms() == [], label
        if action == "save_figures":
            assert form.canteen_total == Decimal("1200000") and form.reserved_amount == Decimal("360000.00")
        else:
            assert form.contact_name == "张伟"
        db.session.commit()
        return
    # exactly one event and one audit row, naming who, from, to
    assert len(form.events) == events_before + 1, label
    event = form.events[-1]
    assert (event.action, event.actor_id, event.actor_unit_id, event.from_status, event.to_status) == \
        (EVENT_OF[action], actor.id, actor.unit_id, from_status, outcome), label
    assert event.at is not None
    returning = action in ("return_to_unit", "finance_return")
    assert event.comment == (REASON if returning else None)
    assert len(audits) == audits_before + 1, label
    assert audits[-1].action == f"reservation_{EVENT_OF[action]}" and audits[-1].account_id == actor.id
    assert audits[-1].detail_data["from"] == from_status and audits[-1].detail_data["to"] == outcome
    # sheets at submit, confirm and finalize only
    expected_sheets = [(form.id, SHEET_OF[action], actor.id)] if action in SHEET_OF else []
    assert new_calls == expected_sheets, label
    # confirm, finalize and both returns text the unit's accounts (after commit); submit texts nobody
    assert pending_sms() == ([getattr(t, owner).phone] if action in NOTIFIES else []), label
    if returning:
        assert form.return_reason == REASON and form.returned_values
        assert form.batch_id is None and form.confirmed_at is None and form.confirmed_by_id is None
        assert form.finalized_at is None and form.finalized_by_id is None
    if action == "confirm":
        assert form.confirmed_by_id == actor.id and form.confirmed_at is not None
    if action == "finalize":
        assert form.finalized_by_id == actor.id and form.finalized_at is not None
    if action == "submit":
        assert form.submitted_at is not None and form.attested_at is not None and form.return_reason is None
        superior = OWNERS[owner][0]
        assert form.superior_id == (getattr(t, superior).unit_id if superior else None)
        assert form.finance_id == getattr(t, OWNERS[owner][1]).unit_id
    db.session.commit()
    if action == "submit" and OWNERS[owner][0] is None:
        # filed alone: in its finance department's queue at once, with no batch
        assert form in queries.awaiting_finance(t.gz_finance, form.year) and form.batch_id is None


def check_batch(t, head, forms, year, sheets):
    calls_before = len(sheets.calls)
    department = [forms["budget_unit"], forms["superior_budget"]]
    before = {form.id: (form.version, len(form.events)) for form in department}
    assert queries.awaiting_finance(t.province_finance, year) == []
    batch = workflow.submit_batch(head, year)
    db.session.flush()
    assert {form.id for form in batch.reservations} == {form.id for form in department}
    assert batch.head_unit_id == head.unit_id and batch.finance_id == t.province_finance.unit_id
    for form in department:
        db.session.expire(form, ["events"])
        assert form.status == "confirmed" and form.batch_id == batch.id and form.version > before[form.id][0]
        assert len(form.events) == before[form.id][1] + 1
        event = form.events[-1]
        assert (event.action, event.actor_id, event.from_status, event.to_status) == \
            ("batch", head.id, "confirmed", "confirmed")
        audits = db.session.scalars(select(AuditEvent).where(AuditEvent.object_ref == f"reservation:{form.id}",
                                                             AuditEvent.action == "reservation_batch")).all()
        assert len(audits) == 1 and audits[0].account_id == head.id
    # the lone unit's form is no part of the department's batch
    assert forms["gz_budget"].batch_id is None
    assert len(sheets.calls) == calls_before and pending_sms() == []
    db.session.commit()
    assert {form.id for form in queries.awaiting_finance(t.province_finance, year)} == {f.id for f in department}


# --- one rule at a time -------------------------------------------------------------------------------

def test_a_whole_life_asks_for_sheets_at_submit_confirm_and_finalize_only(t, sheets):
    policy = open_policy(2401)
    school = filled_draft(t.budget_unit, policy)
    own = filled_draft(t.superior_budget, policy)
    workflow.submit(t.budget_unit, school, policy, attested=True, expected_version=school.version, make_sheet=sheets)
    workflow.return_to_unit(t.superior_budget, school, expected_version=school.version, reason=REASON)
    workflow.save_figures(t.budget_unit, school, {**FIGURES, "canteen_total": "1200000"}, policy,
                          expected_version=school.version)
    workflow.submit(t.budget_unit, school, policy, attested=True, expected_version=school.version, make_sheet=sheets)
    workflow.confirm(t.superior_budget, school, expected_version=school.version, make_sheet=sheets)
    # the batch waits for the head's own form
    with pytest.raises(ValidationFailed) as waiting:
        workflow.submit_batch(t.superior_budget, 2401)
    assert "省教育厅：未填报" in waiting.value.errors["batch"]
    workflow.submit(t.superior_budget, own, policy, attested=True, expected_version=own.version, make_sheet=sheets)
    with pytest.raises(ValidationFailed) as waiting:
        workflow.submit_batch(t.superior_budget, 2401)
    assert "省教育厅：待上级预算单位确认" in waiting.value.errors["batch"]
    workflow.confirm(t.superior_budget, own, expected_version=own.version, make_sheet=sheets)
    # confirmed but not yet sent: finance does not see it, and may not act on it
    assert queries.awaiting_finance(t.province_finance, 2401) == []
    with pytest.raises(PermissionDenied):
        workflow.finalize(t.province_finance, school, expected_version=school.version, make_sheet=sheets)
    workflow.submit_batch(t.superior_budget, 2401)
    assert [f.id for f in queries.awaiting_finance(t.province_finance, 2401)] == sorted([school.id, own.id])
    # finance returns the school's form: out of the batch, confirmations cleared
    workflow.finance_return(t.province_finance, school, expected_version=school.version, reason="请核实采购总额")
    assert (school.status, school.batch_id, school.confirmed_by_id, school.confirmed_at) == \
        ("returned", None, None, None)
    assert Decimal(school.returned_snapshot["canteen_total"]) == Decimal("1200000")
    workflow.submit(t.budget_unit, school, policy, attested=True, expected_version=school.version, make_sheet=sheets)
    workflow.confirm(t.superior_budget, school, expected_version=school.version, make_sheet=sheets)
    second = workflow.submit_batch(t.superior_budget, 2401)
    assert [f.id for f in second.reservations] == [school.id]  # the head's own is already with finance
    workflow.finalize(t.province_finance, school, expected_version=school.version, make_sheet=sheets)
    db.session.commit()
    assert sheets.stages(school.id) == ["submitted", "submitted", "confirmed", "submitted", "confirmed", "final"]
    assert sheets.stages(own.id) == ["submitted", "confirmed"]
    assert [(e.action, e.from_status, e.to_status) for e in school.events] == [
        ("submit", "draft", "submitted"), ("return", "submitted", "returned"), ("submit", "returned", "submitted"),
        ("confirm", "submitted", "confirmed"), ("batch", "confirmed", "confirmed"),
        ("finance_return", "confirmed", "returned"), ("submit", "returned", "submitted"),
        ("confirm", "submitted", "confirmed"), ("batch", "confirmed", "confirmed"),
        ("finance_confirm", "confirmed", "final")]


def test_a_unit_with_no_superior_goes_straight_to_its_finance_department(t, sheets):
    policy = open_policy(2402)
    form = filled_draft(t.gz_budget, policy)
    assert form.superior_id is None and form.finance_id == t.gz_finance.unit_id
    workflow.submit(t.gz_budget, form, policy, attested=True, expected_version=form.version, make_sheet=sheets)
    db.session.commit()
    assert form.status == "confirmed" and form.batch_id is None
    assert form.events[-1].to_status == "confirmed"
    assert queries.awaiting_finance(t.gz_finance, 2402) == [form]
    assert queries.awaiting_finance(t.province_finance, 2402) == []
    assert queries.awaiting_finance(t.county_finance, 2402) == []
    # gz_budget heads no department: it has no batch to send
    with pytest.raises(PermissionDenied):
        workflow.submit_batch(t.gz_budget, 2402)
    # another finance department may not confirm it
    for finance in (t.province_finance, t.county_finance):
        with pytest.raises(PermissionDenied):
            workflow.finalize(finance, form, expected_version=form.version, make_sheet=sheets)
    workflow.finalize(t.gz_finance, form, expected_version=form.version, make_sheet=sheets)
    db.session.commit()
    assert form.status == "final" and sheets.stages(form.id) == ["submitted", "final"]


def test_confirm_and_returns_text_the_units_accounts_only_after_commit(t, sheets, outbox):
    unit = t.budget_unit.unit
    second = account_service.add_account(t.superior_budget, unit, contact_name="学校会计", phone="13700000113")
    gone = account_service.add_account(t.superior_budget, unit, contact_name="离职员工", phone="13700000114")
    account_service.set_account_active(t.superior_budget, gone, False)
    db.session.commit()
    phones = (t.budget_unit.phone, second.phone)

    def texts(phone, words):
        return [m["text"] for m in outbox.messages(phone) if words in m["text"]]

    policy = open_policy(2403)
    form = filled_draft(t.budget_unit, policy)
    workflow.submit(t.budget_unit, form, policy, attested=True, expected_version=form.version, make_sheet=sheets)
    db.session.commit()
    assert outbox.messages(t.budget_unit.phone) == []  # a submission texts nobody

    # A return that is rolled back sends nothing, not even at the next commit.
    workflow.return_to_unit(t.superior_budget, form, expected_version=form.version, reason="数量写错了")
    assert sorted(pending_sms()) == sorted(phones)
    assert texts(t.budget_unit.phone, "数量写错了") == []
    db.session.rollback()
    open_policy(2404)
    db.session.commit()
    assert texts(t.budget_unit.phone, "数量写错了") == [] and texts(second.phone, "数量写错了") == []

    form = db.session.get(Reservation, form.id)
    assert form.status == "submitted"
    workflow.return_to_unit(t.superior_budget, form, expected_version=form.version, reason="数量写错了")
    assert texts(t.budget_unit.phone, "数量写错了") == []
    db.session.commit()
    for phone in phones:
        sent = texts(phone, "数量写错了")
        assert len(sent) == 1 and "省教育厅退回" in sent[0] and "2403年度" in sent[0]
    assert texts(gone.phone, "数量写错了") == []

    workflow.submit(t.budget_unit, form, policy, attested=True, expected_version=form.version, make_sheet=sheets)
    workflow.confirm(t.superior_budget, form, expected_version=form.version, make_sheet=sheets)
    assert texts(t.budget_unit.phone, "已由省教育厅确认") == []
    db.session.commit()
    for phone in phones:
        assert len(texts(phone, "已由省教育厅确认，待财政部门确认")) == 1
    assert texts(gone.phone, "确认") == []

    own = filled_draft(t.superior_budget, policy)
    workflow.submit(t.superior_budget, own, policy, attested=True, expected_version=own.version, make_sheet=sheets)
    workflow.confirm(t.superior_budget, own, expected_version=own.version, make_sheet=sheets)
    workflow.submit_batch(t.superior_budget, 2403)
    db.session.commit()
    workflow.finance_return(t.province_finance, form, expected_version=form.version, reason="请核实工会采购")
    assert texts(t.budget_unit.phone, "请核实工会采购") == []
    db.session.commit()
    for phone in phones:
        sent = texts(phone, "请核实工会采购")
        assert len(sent) == 1 and "省财政厅退回" in sent[0]
    # nobody else hears of the school's form
    assert texts(t.superior_budget.phone, "请核实工会采购") == texts(t.superior_budget.phone, "数量写错了") == []
    assert texts(t.province_finance.phone, "预留份额") == []


@pytest.mark.parametrize("step", ["return_to_unit", "finance_return"])
def test_a_return_needs_a_reason_and_changes_nothing_without_one(t, sheets, step):
    state = "submitted" if step == "return_to_unit" else "batched"
    form = build_year(t, 2405, state, sheets)["budget_unit"]
    actor = t.superior_budget if step == "return_to_unit" else t.province_finance
    before = db_state([form.id], sheets)
    for reason in ("", "   ", None, "长" * 201):
        with pytest.raises(ValidationFailed) as refused:
            act(actor, form, step, form.version, sheets, reason=reason)
        assert set(refused.value.errors) == {"reason"}
        assert "退回原因" in refused.value.errors["reason"]
        assert_untouched()
    db.session.rollback()
    assert db_state([form.id], sheets) == before
    act(actor, form, step, form.version, sheets, reason="长" * 200)
    db.session.commit()
    assert form.status == "returned" and form.return_reason == "长" * 200


def test_submit_needs_the_attestation(t, sheets):
    policy = open_policy(2406)
    form = filled_draft(t.budget_unit, policy)
    db.session.commit()
    before = db_state([form.id], sheets)
    with pytest.raises(ValidationFailed) as refused:
        workflow.submit(t.budget_unit, form, policy, attested=False, expected_version=form.version, make_sheet=sheets)
    assert set(refused.value.errors) == {"attested"}
    assert "我单位本次填报的内容真实有效" in refused.value.errors["attested"]
    db.session.rollback()
    assert db_state([form.id], sheets) == before and form.status == "draft"


def test_submit_checks_every_rule_again(t, sheets):
    """A forged request could have skipped the steps: submit refuses a form that was never completed."""
    policy = open_policy(2407)
    form = workflow.form_for(t.budget_unit, policy)
    db.session.commit()
    with pytest.raises(ValidationFailed) as refused:
        workflow.submit(t.budget_unit, form, policy, attested=True, expected_version=form.version, make_sheet=sheets)
    assert {"canteen_type", "union_need"} <= set(refused.value.errors)
    db.session.rollback()
    assert form.status == "draft" and sheets.calls == []


def test_the_filing_deadline(t, sheets):
    today = to_china(utcnow()).date()
    earlier = utcnow() - timedelta(days=5)  # while filing was still open
    closed = open_policy(2408, filing_deadline=today - timedelta(days=1))
    db.session.commit()

    # No new form after the deadline.
    with pytest.raises(ValidationFailed) as late:
        workflow.form_for(t.budget_unit, closed)
    assert set(late.value.errors) == {"year"} and "截止" in late.value.errors["year"]
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Reservation)) == 0

    # A draft begun in time cannot be submitted once the deadline has passed...
    draft = workflow.form_for(t.budget_unit, closed, now=earlier)
    workflow.save_figures(t.budget_unit, draft, FIGURES, closed, expected_version=draft.version)
    workflow.save_contacts(t.budget_unit, draft, CONTACTS, expected_version=draft.version)
    db.session.commit()
    assert workflow.form_for(t.budget_unit, closed).id == draft.id  # the existing form is still shown
    before = db_state([draft.id], sheets)
    with pytest.raises(ValidationFailed) as late:
        workflow.submit(t.budget_unit, draft, closed, attested=True, expected_version=draft.version,
                        make_sheet=sheets)
    assert set(late.value.errors) == {"year"} and "不能再提交新的填报" in late.value.errors["year"]
    db.session.rollback()
    assert db_state([draft.id], sheets) == before

    # ...but a form returned for changes may come back after the deadline.
    returned = workflow.form_for(t.superior_budget, closed, now=earlier)
    workflow.save_figures(t.superior_budget, returned, FIGURES, closed, expected_version=returned.version)
    workflow.save_contacts(t.superior_budget, returned, CONTACTS, expected_version=returned.version)
    workflow.submit(t.superior_budget, returned, closed, attested=True, expected_version=returned.version,
                    make_sheet=sheets, now=earlier)
    workflow.return_to_unit(t.superior_budget, returned, expected_version=returned.version, reason=REASON)
    db.session.commit()
    workflow.submit(t.superior_budget, returned, closed, attested=True, expected_version=returned.version,
                    make_sheet=sheets)
    db.session.commit()
    assert returned.status == "submitted"

    # An extension reopens new filings.
    closed.extended_until = today + timedelta(days=3)
    db.session.commit()
    workflow.submit(t.budget_unit, draft, closed, attested=True, expected_version=draft.version, make_sheet=sheets)
    fresh = filled_draft(t.gz_budget, closed)
    workflow.submit(t.gz_budget, fresh, closed, attested=True, expected_version=fresh.version, make_sheet=sheets)
    db.session.commit()
    assert (draft.status, fresh.status) == ("submitted", "confirmed")

    # An extension that has itself run out closes them again.
    other = open_policy(2409, filing_deadline=today - timedelta(days=10), extended_until=today - timedelta(days=1))
    with pytest.raises(ValidationFailed):
        workflow.form_for(t.budget_unit, other)


def test_one_form_per_unit_and_year(t, sheets):
    policy = open_policy(2410)
    first = workflow.form_for(t.budget_unit, policy)
    db.session.commit()
    assert workflow.form_for(t.budget_unit, policy).id == first.id
    filled = filled_draft(t.budget_unit, policy)
    assert filled.id == first.id
    workflow.submit(t.budget_unit, filled, policy, attested=True, expected_version=filled.version, make_sheet=sheets)
    db.session.commit()
    assert workflow.form_for(t.budget_unit, policy).id == first.id
    # a direct insert is refused by the database
    db.session.add(Reservation(unit_id=t.budget_unit.unit_id, year=2410, status="draft", flags="",
                               finance_id=t.province_finance.unit_id))
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Reservation)
                             .where(Reservation.unit_id == t.budget_unit.unit_id, Reservation.year == 2410)) == 1
    # only a budget unit files
    for role in ("province_finance", "gz_office", "system", "gz_enterprise"):
        with pytest.raises(PermissionDenied):
            workflow.form_for(getattr(t, role), policy)


def _last_year(t, year, *, total, ratio, **extra):
    open_policy(year)
    form = Reservation(unit_id=t.budget_unit.unit_id, year=year, status="final", flags="", canteen_type="own",
                       canteen_total=Decimal(total), ratio=Decimal(ratio),
                       reserved_amount=(Decimal(total) * Decimal(ratio) / 100).quantize(Decimal("0.01")),
                       superior_id=t.superior_budget.unit_id, finance_id=t.province_finance.unit_id, **extra)
    db.session.add(form)
    db.session.flush()
    return form


def _submitted_flags(t, sheets, year, **figures):
    policy = db.session.get(YearPolicy, year) or open_policy(year)
    form = filled_draft(t.budget_unit, policy, **figures)
    workflow.submit(t.budget_unit, form, policy, attested=True, expected_version=form.version, make_sheet=sheets)
    db.session.commit()
    return form.flag_codes


@pytest.mark.parametrize("last, figures, flags", [
    # ratio at the floor while last year's was higher (and so below last year)
    (("1000000", "40"), {"ratio": "30"}, ["ratio_at_floor", "below_last_year"]),
    # a fall of more than half: 175,000 against 400,000
    (("1000000", "40"), {"canteen_total": "500000", "ratio": "35"}, ["below_last_year", "halved"]),
    # below last year only: 270,000 against 300,000 at the same ratio
    (("1000000", "30"), {"canteen_total": "900000"}, ["below_last_year"]),
    # exactly a half is not more than half
    (("1000000", "60"), {"canteen_total": "1000000", "ratio": "30"}, ["ratio_at_floor", "below_last_year"]),
    # as much as last year: nothing to look at
    (("1000000", "30"), {}, []),
    # own canteen with nothing bought
    (None, {"canteen_total": "0"}, ["own_zero"]),
    # the union buys more than the canteen
    (None, {"canteen_total": "100000", "union_total": "200000"}, ["union_over_total"]),
    (None, {}, []),
])
def test_flags(t, sheets, last, figures, flags):
    if last is not None:
        _last_year(t, 2499, total=last[0], ratio=last[1])
    assert _submitted_flags(t, sheets, 2500, **figures) == flags


def test_below_last_year_is_not_flagged_when_the_year_says_so(t, sheets):
    _last_year(t, 2510, total="1000000", ratio="40")
    open_policy(2511, flag_below_last_year=False)
    assert _submitted_flags(t, sheets, 2511, ratio="35") == []
