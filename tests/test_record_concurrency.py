"""Two reviewers acting on the same record at once: exactly one action is applied, the other is told
who came first. The threaded tests need PostgreSQL (row locks, truly concurrent transactions); the
HTTP one (sequential, with a stale version) runs on both databases."""
import io
import re
import threading
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from portal.accounts.models import Account
from portal.extensions import db
from portal.records import service, vouchers, workflow
from portal.records.models import PurchaseRecord, RecordTotal, ReviewEvent
from portal.records.totals import TotalFilters, province_view
from tests.conftest import csrf_token
from tests.records_helpers import PNG, record_form

THRESHOLD = Decimal("500000")


def _submitted_record(app, tree):
    with app.app_context():
        enterprise = db.session.get(Account, tree.gz_enterprise.id)
        record = service.create_draft(enterprise, record_form())
        vouchers.add_voucher(enterprise, record, io.BytesIO(PNG), "发票.png", "invoice",
                             root=vouchers.voucher_root(app.instance_path), max_bytes=1024 * 1024)
        workflow.submit(enterprise, record, amount_threshold=THRESHOLD)
        db.session.commit()
        return record.id, record.version


def _race(app, actors, act):
    """Run act(actor, record) for each actor in its own thread and app context; every thread has read the
    record (and its actor) before any of them writes. Returns [(account id, "ok" or the exception)]."""
    barrier = threading.Barrier(len(actors))
    results = [None] * len(actors)

    def run(index, account_id, record_id):
        with app.app_context():
            try:
                actor = db.session.get(Account, account_id)
                record = db.session.get(PurchaseRecord, record_id)
                assert actor.unit is not None and record.status
                barrier.wait(timeout=10)
                act(actor, record)
                db.session.commit()
                results[index] = (account_id, "ok")
            except Exception as error:  # noqa: BLE001 - the result is what the test looks at
                db.session.rollback()
                results[index] = (account_id, error)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(index, *args)) for index, args in enumerate(actors)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    return results


@pytest.mark.postgres_only
def test_two_reviewers_approve_the_same_record_at_once(app, tree, is_postgres):
    if not is_postgres:
        pytest.skip("needs PostgreSQL: TEST_DATABASE_URL=postgresql+psycopg://…")
    record_id, version = _submitted_record(app, tree)
    results = _race(app, [(tree.gz_office.id, record_id), (tree.gz_reviewer.id, record_id)],
                    lambda actor, record: workflow.approve(actor, record, expected_version=version))

    winners = [account for account, result in results if result == "ok"]
    losers = {account: result for account, result in results if result != "ok"}
    assert len(winners) == 1 and len(losers) == 1, results
    (loser, conflict), = losers.items()
    assert isinstance(conflict, workflow.Conflict), repr(conflict)
    winner_name = tree.gz_office.name if winners[0] == tree.gz_office.id else tree.gz_reviewer.name
    # The message names the unit (and the person) that acted first, and the state it left.
    assert "广州协作办" in conflict.message and f"（{winner_name}）" in conflict.message
    assert "审核通过" in conflict.message and "您的操作未执行" in conflict.message

    with app.app_context():
        record = db.session.get(PurchaseRecord, record_id)
        assert record.status == "approved"
        approvals = db.session.scalars(select(ReviewEvent).where(ReviewEvent.record_id == record_id,
                                                                 ReviewEvent.action == "approve")).all()
        assert [event.actor_id for event in approvals] == winners
        assert db.session.scalar(select(func.sum(RecordTotal.record_count))) == 1
        assert province_view(TotalFilters())["total"] == (1, Decimal("12800.50"))


@pytest.mark.postgres_only
def test_an_approval_and_a_return_at_once(app, tree, is_postgres):
    if not is_postgres:
        pytest.skip("needs PostgreSQL")
    record_id, version = _submitted_record(app, tree)

    def act(actor, record):
        if actor.id == tree.gz_office.id:
            workflow.approve(actor, record, expected_version=version)
        else:
            workflow.return_for_changes(actor, record, expected_version=version, reason="发票不清晰")

    results = _race(app, [(tree.gz_office.id, record_id), (tree.gz_reviewer.id, record_id)], act)
    assert sorted(type(r).__name__ if r != "ok" else "ok" for _, r in results) == ["Conflict", "ok"], results
    with app.app_context():
        record = db.session.get(PurchaseRecord, record_id)
        events = [e for e in record.events if e.action != "submit"]
        assert len(events) == 1
        assert record.status == {"approve": "approved", "return": "returned"}[events[0].action]
        approved_count = db.session.scalar(select(func.coalesce(func.sum(RecordTotal.record_count), 0)))
        assert approved_count == (1 if record.status == "approved" else 0)


@pytest.mark.postgres_only
@pytest.mark.parametrize("late", ["return", "approve"])
def test_a_reviewer_acting_on_a_record_approved_meanwhile_is_told_so(app, tree, is_postgres, late):
    """The same race, in a fixed order: the record is read, the city office approves it in a
    transaction of its own, then the reviewer acts on what it read. The return's snapshot reads the
    record's period and category, and a lazy load flushing the stale row then was a StaleDataError
    (a 500) instead of the Conflict the person is shown."""
    if not is_postgres:
        pytest.skip("needs PostgreSQL")
    record_id, version = _submitted_record(app, tree)
    with app.app_context():
        reviewer = db.session.get(Account, tree.gz_reviewer.id)
        record = db.session.get(PurchaseRecord, record_id)
        with app.app_context():  # another person's transaction: a session of its own
            office = db.session.get(Account, tree.gz_office.id)
            workflow.approve(office, db.session.get(PurchaseRecord, record_id), expected_version=version)
            db.session.commit()
        with pytest.raises(workflow.Conflict) as told:
            if late == "return":
                workflow.return_for_changes(reviewer, record, expected_version=version, reason="发票不清晰")
            else:
                workflow.approve(reviewer, record, expected_version=version)
        assert "审核通过" in told.value.message
        db.session.rollback()
        assert db.session.get(PurchaseRecord, record_id).status == "approved"


@pytest.mark.postgres_only
def test_a_double_submit_is_applied_once(app, tree, is_postgres):
    """A filer who presses 提交审核 twice (two tabs, a double click) gets one submission; the second request
    is told the record moved on, rather than failing with a server error."""
    if not is_postgres:
        pytest.skip("needs PostgreSQL")
    with app.app_context():
        enterprise = db.session.get(Account, tree.gz_enterprise.id)
        record = service.create_draft(enterprise, record_form())
        vouchers.add_voucher(enterprise, record, io.BytesIO(PNG), "发票.png", "invoice",
                             root=vouchers.voucher_root(app.instance_path), max_bytes=1024 * 1024)
        db.session.commit()
        record_id, version = record.id, record.version

    results = _race(app, [(tree.gz_enterprise.id, record_id)] * 2,
                    lambda actor, record: workflow.submit(actor, record, expected_version=version,
                                                          amount_threshold=THRESHOLD))
    with app.app_context():
        submits = db.session.scalar(select(func.count()).select_from(ReviewEvent).where(
            ReviewEvent.record_id == record_id, ReviewEvent.action == "submit"))
    assert submits == 1
    outcomes = [outcome for _, outcome in results]
    assert outcomes.count("ok") == 1
    assert any(isinstance(outcome, workflow.Conflict) for outcome in outcomes), outcomes


@pytest.mark.postgres_only
def test_two_saves_of_the_same_draft_at_once(app, tree, is_postgres):
    """Two tabs saving the same draft from the same version: one is saved, the other is told to reload."""
    if not is_postgres:
        pytest.skip("needs PostgreSQL")
    with app.app_context():
        record = service.create_draft(db.session.get(Account, tree.gz_enterprise.id), record_form())
        db.session.commit()
        record_id, version = record.id, record.version
    amounts = iter(["100.00", "200.00"])
    lock = threading.Lock()

    def save(actor, record):
        with lock:
            amount = next(amounts)
        service.save_fields(actor, record, record_form(amount=amount), expected_version=version)

    results = _race(app, [(tree.gz_enterprise.id, record_id)] * 2, save)
    outcomes = [outcome for _, outcome in results]
    assert outcomes.count("ok") == 1
    assert any(isinstance(outcome, workflow.Conflict) for outcome in outcomes), outcomes


def _post(client, url, data, headers=None):
    token = csrf_token(client, "/")
    return client.post(url, data={**data, "csrf_token": token}, headers={"X-CSRFToken": token, **(headers or {})})


def test_the_second_reviewer_through_http_gets_409_with_the_conflict(app, tree, login):
    record_id, version = _submitted_record(app, tree)
    first, second = app.test_client(), app.test_client()
    login(first, tree.gz_reviewer.phone)
    login(second, tree.gz_office.phone)
    # Both opened the panel on the same version.
    for client in (first, second):
        panel = client.get(f"/reviews/{record_id}/panel").get_data(as_text=True)
        assert f'name="version" value="{version}"' in panel

    done = _post(first, f"/reviews/{record_id}/act", {"decision": "approve", "version": version},
                 headers={"HX-Request": "true"})
    assert done.status_code == 200 and "已审核通过" in done.get_data(as_text=True)
    late = _post(second, f"/reviews/{record_id}/act", {"decision": "return", "version": version,
                                                       "reason": "金额不对"}, headers={"HX-Request": "true"})
    assert late.status_code == 409
    body = late.get_data(as_text=True)
    message = re.search(r'id="conflict-message">([^<]+)<', body).group(1)
    assert "广州协作办" in message and "广州审核员" in message and "审核通过" in message
    # The row shows its new state: no approve/return form any more.
    assert 'name="decision"' not in body
    # Without HTMX, the same is a redirect with the message flashed on the record's page.
    again = _post(second, f"/reviews/{record_id}/act", {"decision": "approve", "version": version})
    assert again.status_code == 302
    assert "广州审核员" in second.get(again.headers["Location"]).get_data(as_text=True)

    with app.app_context():
        record = db.session.get(PurchaseRecord, record_id)
        assert record.status == "approved" and record.return_reason is None
        actions = [e.action for e in record.events]
        assert actions == ["submit", "approve"]
        assert db.session.scalar(select(func.sum(RecordTotal.record_count))) == 1
