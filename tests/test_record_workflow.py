"""The workflow of purchase records (DESIGN section 3), exhaustively: every state × every action ×
every role of build_tree(). Exactly the allowed transitions happen; every other attempt is refused and
changes nothing. Real database, real domain operations, no mocks."""
import io
from collections import Counter
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from portal.accounts import service as account_service
from portal.accounts.models import Account
from portal.audit import AuditEvent
from portal.errors import PermissionDenied, ValidationFailed
from portal.extensions import db
from portal.records import queries, rules, service, vouchers, workflow
from portal.records.models import PurchaseRecord, QueueCounter, ReviewEvent
from portal.records.queries import RecordFilters
from tests.factories import build_tree
from tests.records_helpers import PNG, record_form

THRESHOLD = Decimal("500000")

#: every kind of filer: two-level ones (merchant, store, the listed market's merchant) and one-level ones
FILERS = ("gz_merchant", "gz_store", "gz_market", "gz_supermarket", "gz_ecommerce", "gz_enterprise",
          "listed_market", "listed_merchant")
FIRST_REVIEWER = {"gz_merchant": "gz_market", "gz_store": "gz_supermarket", "listed_merchant": "listed_market"}
#: the office whose admin and reviewers act on the second level
OFFICE = {filer: (("province", "province_reviewer") if filer.startswith("listed") else ("gz_office", "gz_reviewer"))
          for filer in FILERS}
ACTIONS = ("submit", "approve", "return")
REASON = "请补充运单"


def _states(filer):
    """The states a record of this filer can be in; 'returned_city' is a two-level record that the city
    office sent back (it goes back to the original filer, like a first-level return)."""
    if filer in FIRST_REVIEWER:
        return ("draft", "filed", "submitted", "approved", "returned", "returned_city")
    return ("draft", "submitted", "approved", "returned")


def expected_outcome(filer, state, action, role):
    """The DESIGN's table, written out independently of rules.py: the status reached, or None."""
    two_level = filer in FIRST_REVIEWER
    if action == "submit":
        if state in ("draft", "returned", "returned_city") and role == filer:
            return "filed" if two_level else "submitted"
        return None
    if state == "filed" and role == FIRST_REVIEWER.get(filer):
        return {"approve": "submitted", "return": "returned"}[action]
    if state == "submitted" and role in OFFICE[filer]:
        return {"approve": "approved", "return": "returned"}[action]
    return None


def make_record(t, filer, state, root, **overrides):
    """A complete record of `filer`, brought to `state` through the real workflow."""
    account = getattr(t, filer)
    record = service.create_draft(account, record_form(**overrides))
    vouchers.add_voucher(account, record, io.BytesIO(PNG + filer.encode() + state.encode()), "发票.png", "invoice",
                         root=root, max_bytes=1024 * 1024)
    if state == "draft":
        return record
    workflow.submit(account, record, amount_threshold=THRESHOLD)
    first = getattr(t, FIRST_REVIEWER[filer]) if filer in FIRST_REVIEWER else None
    office = getattr(t, OFFICE[filer][1])
    if state == "filed":
        return record
    if state == "returned" and first is not None:
        workflow.return_for_changes(first, record, expected_version=record.version, reason="先退回一次")
        return record
    if first is not None:
        workflow.approve(first, record, expected_version=record.version)
    if state == "submitted":
        return record
    if state in ("returned", "returned_city"):
        workflow.return_for_changes(office, record, expected_version=record.version, reason="市级退回一次")
        return record
    assert state == "approved"
    workflow.approve(office, record, expected_version=record.version)
    return record


def act(actor, record, action, version, reason=REASON):
    if action == "submit":
        return workflow.submit(actor, record, expected_version=version, amount_threshold=THRESHOLD)
    if action == "approve":
        return workflow.approve(actor, record, expected_version=version)
    return workflow.return_for_changes(actor, record, expected_version=version, reason=reason)


def roles_of(t):
    return {name: account for name, account in vars(t).items()}


def db_state(record_ids):
    """What a refused attempt must not change: statuses, versions, events, audit rows, counters."""
    db.session.expire_all()
    records = {r.id: (r.status, r.version, r.flags, r.updated_at) for r in db.session.scalars(
        select(PurchaseRecord).where(PurchaseRecord.id.in_(record_ids)))}
    events = db.session.scalar(select(func.count()).select_from(ReviewEvent))
    audits = db.session.scalar(select(func.count()).select_from(AuditEvent))
    counters = dict(db.session.execute(select(QueueCounter.key, QueueCounter.count)).all())
    return records, events, audits, counters


def live_counters():
    """The queue counters and each filing unit's counts by status (its home page), as a live
    COUNT over the records and events."""
    counts = Counter()
    for record in db.session.scalars(select(PurchaseRecord)):
        counts[f"unit:{record.unit_id}:{record.status}"] += 1
        if record.status == "filed":
            counts[f"first:{record.first_reviewer_id}"] += 1
        elif record.status == "submitted":
            counts[f"city:{record.city_scope}"] += 1
    for event in db.session.scalars(select(ReviewEvent).where(ReviewEvent.action != "submit")):
        counts[f"done:{event.actor_unit_id}"] += 1
    return {key: value for key, value in counts.items() if value}


def stored_counters():
    rows = dict(db.session.execute(select(QueueCounter.key, QueueCounter.count)).all())
    assert all(value >= 0 for value in rows.values()), rows
    return {key: value for key, value in rows.items() if value}


@pytest.fixture
def t(app, ctx):
    made = build_tree()
    db.session.commit()
    return made


@pytest.fixture
def root(app):
    return vouchers.voucher_root(app.instance_path)


def test_every_state_action_role(t, root):
    roles = roles_of(t)
    assert len(roles) == 29  # every account of the tree, the three administrators included
    records = {(filer, state): make_record(t, filer, state, root) for filer in FILERS for state in _states(filer)}
    db.session.commit()
    assert {record.status for record in records.values()} == {"draft", "filed", "submitted", "approved", "returned"}
    ids = [record.id for record in records.values()]
    before = db_state(ids)

    allowed = []
    refused = 0
    for (filer, state), record in records.items():
        for action in ACTIONS:
            for role, actor in roles.items():
                outcome = expected_outcome(filer, state, action, role)
                if outcome is not None:
                    allowed.append((filer, state, action, role, outcome))
                    # A stale version is a conflict for whoever may act, and changes nothing.
                    with pytest.raises(workflow.Conflict):
                        act(actor, record, action, record.version - 1)
                    assert not (db.session.new or db.session.dirty or db.session.deleted)
                    continue
                # Refused with the current version: not theirs to do.
                with pytest.raises(PermissionDenied):
                    act(actor, record, action, record.version)
                assert not (db.session.new or db.session.dirty or db.session.deleted), (filer, state, action, role)
                # Refused with a stale version: a reviewer who can see the record is told who acted
                # first; anyone else is simply refused.
                stale_is_conflict = (action != "submit" and rules.is_reviewer(actor)
                                     and rules.may_view(actor, record))
                with pytest.raises(workflow.Conflict if stale_is_conflict else PermissionDenied):
                    act(actor, record, action, record.version - 1)
                assert not (db.session.new or db.session.dirty or db.session.deleted), (filer, state, action, role)
                refused += 2
    db.session.rollback()
    assert db_state(ids) == before
    assert refused > 1000

    # The allowed transitions (the table has exactly these many), each then applied to a fresh record.
    seen = Counter((action, state) for _, state, action, _, _ in allowed)
    assert seen == {
        ("submit", "draft"): len(FILERS), ("submit", "returned"): len(FILERS),
        ("submit", "returned_city"): len(FIRST_REVIEWER),
        ("approve", "filed"): len(FIRST_REVIEWER), ("return", "filed"): len(FIRST_REVIEWER),
        ("approve", "submitted"): 2 * len(FILERS), ("return", "submitted"): 2 * len(FILERS),
    }
    assert {filer for filer, _, action, role, _ in allowed if action == "submit"} == set(FILERS)
    assert all(role == filer for filer, _, action, role, _ in allowed if action == "submit")

    fresh = [(make_record(t, filer, state, root), filer, state, action, role, outcome)
             for filer, state, action, role, outcome in allowed]
    db.session.commit()
    for record, filer, state, action, role, outcome in fresh:
        actor = roles[role]
        from_status = record.status
        version = record.version
        events_before = len(record.events)
        act(actor, record, action, version)
        db.session.flush()
        # The version moves on (an older one is now stale); submit happens to bump it twice, since
        # compute_flags autoflushes the status change before the final flush.
        assert record.status == outcome and record.version > version, (filer, state, action, role)
        db.session.expire(record, ["events"])
        assert len(record.events) == events_before + 1
        event = record.events[-1]
        assert (event.action, event.actor_id, event.actor_unit_id, event.from_status, event.to_status) == \
            (action, actor.id, actor.unit_id, from_status, outcome)
        assert event.at is not None
        assert event.comment == (REASON if action == "return" else None)
        if action == "return":
            assert record.return_reason == REASON
        audits = db.session.scalars(select(AuditEvent).where(
            AuditEvent.object_ref == f"record:{record.id}", AuditEvent.action == f"record_{action}")
            .order_by(AuditEvent.id)).all()
        assert audits[-1].account_id == actor.id
        assert audits[-1].detail_data["from"] == from_status and audits[-1].detail_data["to"] == outcome
        # exactly one audit row for this transition: one per event of that action on the record
        assert len(audits) == sum(1 for e in record.events if e.action == action)
    db.session.commit()

    # After all of this, the counters behind the queue tabs are what a live COUNT says.
    assert stored_counters() == live_counters()
    for actor in roles.values():
        if rules.is_reviewer(actor):
            live = db.session.scalar(select(func.count()).select_from(PurchaseRecord)
                                     .where(rules.pending_clause(actor)))
            assert queries.queue_counts(actor)["pending"] == live
            pending_rows = db.session.scalars(queries.pending_query(actor, RecordFilters())).unique().all()
            assert len(pending_rows) == live


def test_return_needs_a_reason_and_changes_nothing_without_one(t, root):
    record = make_record(t, "gz_merchant", "filed", root)
    db.session.commit()
    version = record.version
    for reason in ("", "   ", None):
        with pytest.raises(ValidationFailed) as refused:
            workflow.return_for_changes(t.gz_market, record, expected_version=version, reason=reason)
        assert set(refused.value.errors) == {"reason"}
        assert "退回原因" in refused.value.errors["reason"]
    with pytest.raises(ValidationFailed) as too_long:
        workflow.return_for_changes(t.gz_market, record, expected_version=version, reason="长" * 201)
    assert "200" in too_long.value.errors["reason"]
    db.session.rollback()
    db.session.expire_all()
    assert (record.status, record.version, len(record.events)) == ("filed", version, 1)
    # 200 characters is still a reason.
    workflow.return_for_changes(t.gz_market, record, expected_version=version, reason="长" * 200)
    db.session.commit()
    assert record.status == "returned"


def test_a_resubmission_carries_the_fields_changed_since_the_return(t, root):
    record = make_record(t, "gz_merchant", "submitted", root)
    db.session.commit()
    workflow.return_for_changes(t.gz_reviewer, record, expected_version=record.version, reason="金额与发票不符")
    db.session.commit()
    assert record.status == "returned"

    service.save_fields(t.gz_merchant, record, record_form(amount="12000.00", product_name="香米"),
                        expected_version=record.version)
    vouchers.add_voucher(t.gz_merchant, record, io.BytesIO(PNG + b"contract"), "合同.png", "contract",
                         root=root, max_bytes=1024 * 1024)
    workflow.submit(t.gz_merchant, record, expected_version=record.version, amount_threshold=THRESHOLD)
    db.session.commit()
    # Back to the market first: a returned merchant record starts again at the first level.
    assert record.status == "filed"
    resubmit = record.events[-1]
    assert (resubmit.action, resubmit.from_status, resubmit.to_status) == ("submit", "returned", "filed")
    changes = resubmit.change_map
    assert changes["采购金额（元）"] == ["12800.50", "12000.00"]
    assert changes["产品名称"] == ["大米", "香米"]
    assert "合同:合同.png" in changes["采购凭证"][1] and "合同" not in changes["采购凭证"][0]
    assert set(changes) == {"采购金额（元）", "产品名称", "采购凭证"}
    # The first submission carries no change map.
    assert record.events[0].change_map == {}


def test_a_return_texts_the_filers_accounts_only_after_commit(t, root, outbox):
    second = account_service.add_account(t.gz_market, t.gz_merchant.unit, contact_name="商户会计",
                                         phone="13700001013")
    disabled = account_service.add_account(t.gz_market, t.gz_merchant.unit, contact_name="离职员工",
                                           phone="13700001014")
    account_service.set_account_active(t.gz_market, disabled, False)
    record = make_record(t, "gz_merchant", "filed", root)
    db.session.commit()

    def returned_texts(phone):
        return [m for m in outbox.messages(phone) if "退回修改" in m["text"] and f"编号{record.id}" in m["text"]]

    # A return that is rolled back sends nothing, not even at the next commit.
    workflow.return_for_changes(t.gz_market, record, expected_version=record.version, reason="数量写错了")
    assert returned_texts(t.gz_merchant.phone) == []
    db.session.rollback()
    service.create_draft(t.gz_merchant, record_form())
    db.session.commit()
    assert returned_texts(t.gz_merchant.phone) == [] and returned_texts(second.phone) == []

    record = db.session.get(PurchaseRecord, record.id)
    assert record.status == "filed"
    workflow.return_for_changes(t.gz_market, record, expected_version=record.version, reason="数量写错了")
    assert returned_texts(t.gz_merchant.phone) == []
    db.session.commit()
    for phone in (t.gz_merchant.phone, second.phone):
        texts = returned_texts(phone)
        assert len(texts) == 1
        assert "数量写错了" in texts[0]["text"] and "广州批发市场" in texts[0]["text"]
    assert returned_texts(disabled.phone) == []
    # Nobody else hears of it: not the market, not another merchant.
    assert returned_texts(t.gz_market.phone) == [] and returned_texts(t.sz_merchant.phone) == []

    # A city return says 市级审核.
    other = make_record(t, "gz_enterprise", "submitted", root)
    db.session.commit()
    workflow.return_for_changes(t.gz_reviewer, other, expected_version=other.version, reason="请补充合同")
    db.session.commit()
    texts = [m["text"] for m in outbox.messages(t.gz_enterprise.phone) if f"编号{other.id}" in m["text"]]
    assert len(texts) == 1 and "市级审核" in texts[0] and "请补充合同" in texts[0]


def test_queue_counters_follow_a_sequence_of_transitions(t, root):
    merchant_records = [make_record(t, "gz_merchant", "filed", root) for _ in range(3)]
    store_record = make_record(t, "gz_store", "filed", root)
    enterprise_records = [make_record(t, "gz_enterprise", "submitted", root) for _ in range(2)]
    listed = make_record(t, "listed_merchant", "filed", root)
    db.session.commit()
    assert stored_counters() == live_counters()
    assert queries.queue_counts(t.gz_market) == {"pending": 3, "done": 0}
    assert queries.queue_counts(t.gz_reviewer) == {"pending": 2, "done": 0}

    a, b, c = merchant_records
    workflow.approve(t.gz_market, a, expected_version=a.version)
    workflow.return_for_changes(t.gz_market, b, expected_version=b.version, reason="补充")
    workflow.approve(t.gz_supermarket, store_record, expected_version=store_record.version)
    workflow.approve(t.listed_market, listed, expected_version=listed.version)
    db.session.commit()
    assert stored_counters() == live_counters()
    workflow.approve(t.gz_reviewer, a, expected_version=a.version)
    workflow.return_for_changes(t.gz_office, store_record, expected_version=store_record.version, reason="补充")
    workflow.approve(t.province_reviewer, listed, expected_version=listed.version)
    workflow.submit(t.gz_merchant, b, expected_version=b.version, amount_threshold=THRESHOLD)
    workflow.approve(t.gz_office, enterprise_records[0], expected_version=enterprise_records[0].version)
    db.session.commit()
    assert stored_counters() == live_counters()
    workflow.submit(t.gz_store, store_record, expected_version=store_record.version, amount_threshold=THRESHOLD)
    workflow.approve(t.gz_market, b, expected_version=b.version)
    db.session.commit()
    assert stored_counters() == live_counters()
    # A refused attempt in the middle moves no counter.
    with pytest.raises(PermissionDenied):
        workflow.approve(t.sz_reviewer, c, expected_version=c.version)
    db.session.rollback()
    assert stored_counters() == live_counters()
    assert queries.queue_counts(t.gz_market) == {"pending": 1, "done": 3}
    assert queries.queue_counts(t.gz_supermarket) == {"pending": 1, "done": 1}
    assert queries.queue_counts(t.gz_reviewer) == {"pending": 2, "done": 3}
    assert queries.queue_counts(t.province) == {"pending": 0, "done": 1}
    assert queries.queue_counts(t.sz_reviewer) == {"pending": 0, "done": 0}
    # Both accounts of an office read the same counts.
    assert queries.queue_counts(t.gz_office) == queries.queue_counts(t.gz_reviewer)


def test_a_disabled_reviewer_cannot_act(t, root):
    record = make_record(t, "gz_enterprise", "submitted", root)
    db.session.commit()
    account_service.set_account_active(t.gz_office, t.gz_reviewer, False)
    db.session.commit()
    reviewer = db.session.get(Account, t.gz_reviewer.id)
    with pytest.raises(PermissionDenied):
        workflow.approve(reviewer, record, expected_version=record.version)
    db.session.rollback()
    assert db.session.get(PurchaseRecord, record.id).status == "submitted"
