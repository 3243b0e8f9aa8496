"""Background jobs (issue 11): a message exists if and only if its change committed; a gateway that
is down delays it, never loses it; it is delivered exactly once when the gateway comes back; a
worker that dies leaves its job to the next; what gives up is on the security administrator's page."""
import json
import socket
import threading
from contextlib import contextmanager
from datetime import timedelta
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import func, select, text

from portal.accounts.models import Account
from portal.audit import AuditEvent
from portal.clock import utcnow
from portal.extensions import db
from portal.jobs import work_off
from portal.jobs.models import DONE, FAILED, QUEUED, Job
from portal.jobs.queue import backoff, claim, run
from portal.records import workflow as records
from portal.records.models import PurchaseRecord
from portal.reservations import sheets, workflow as reservations
from tests.conftest import csrf_token
from tests.factories import file_record, make_reservation


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def gateway_on(port):
    """The SMS gateway coming up on a port; yields the bodies it receives."""
    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield received
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def down_gateway(app_factory, tree):
    """The app with its http SMS backend pointed at a port nobody listens on (yet)."""
    port = free_port()
    app = app_factory(SMS_BACKEND="http", SMS_HTTP_URL=f"http://127.0.0.1:{port}/sms", SMS_HTTP_TOKEN="t")
    return app, port


def _jobs(status=None):
    query = select(Job)
    if status:
        query = query.where(Job.status == status)
    return db.session.scalars(query.order_by(Job.id)).all()


def _return_and_confirm(app, tree):
    """A record returned to its filer and a reserved-share form confirmed by its superior."""
    with app.app_context():
        merchant, market = (db.session.get(Account, tree.gz_merchant.id), db.session.get(Account, tree.gz_market.id))
        record = file_record(merchant, app.instance_path)
        records.return_for_changes(market, record, expected_version=record.version, reason="凭证不清晰")
        form = make_reservation(tree)
        maker = partial(sheets.make_sheet, instance_path=app.instance_path, base_url="http://portal.test")
        reservations.confirm(db.session.get(Account, tree.superior_budget.id), form,
                             expected_version=form.version, make_sheet=maker)
        db.session.commit()
        return record.id, form.id


def test_a_change_rolled_back_leaves_no_message_and_a_committed_one_leaves_one(ctx, app, tree):
    merchant, market = db.session.get(Account, tree.gz_merchant.id), db.session.get(Account, tree.gz_market.id)
    record = file_record(merchant, app.instance_path)
    db.session.commit()
    records.return_for_changes(market, record, expected_version=record.version, reason="凭证不清晰")
    db.session.rollback()
    assert _jobs() == []
    record = db.session.get(type(record), record.id)
    records.return_for_changes(market, record, expected_version=record.version, reason="凭证不清晰")
    db.session.commit()
    [job] = _jobs()
    assert (job.kind, job.status, job.summary) == ("sms", QUEUED, "短信（record_returned）至 137****1012")
    # The message waits encrypted: the number and the text are personal data.
    [(raw,)] = db.session.execute(text("SELECT payload FROM job")).all()
    assert raw.startswith("sm4gcm.") and tree.gz_merchant.phone not in raw


def test_with_the_gateway_down_changes_commit_and_messages_wait_then_go_exactly_once(down_gateway, tree):
    app, port = down_gateway
    record_id, form_id = _return_and_confirm(app, tree)
    with app.app_context():
        assert db.session.get(PurchaseRecord, record_id).status == "returned"
        assert {job.status for job in _jobs()} == {QUEUED}
        waiting = len(_jobs())
        assert waiting == 2  # the merchant's number, the school's number
        now = utcnow()
        assert work_off(now=now) == waiting
        for job in _jobs():
            assert job.status == QUEUED and job.attempts == 1 and "短信网关发送失败" in job.last_error
            assert job.run_after == now + backoff(1)
        assert work_off(now=now) == 0  # nothing is due before its backoff
    with gateway_on(port) as received:
        with app.app_context():
            later = utcnow() + timedelta(minutes=5)
            assert work_off(now=later) == waiting
            assert {job.status for job in _jobs()} == {DONE}
            assert work_off(now=later + timedelta(hours=2)) == 0
        assert sorted(body["phone"] for body in received) == sorted([tree.gz_merchant.phone, tree.budget_unit.phone])
        assert len({body["id"] for body in received}) == waiting  # each message once, named by its job
    with app.app_context():
        # Done: nothing personal stays in the queue.
        assert db.session.scalar(select(func.count()).select_from(Job).where(Job.payload.is_not(None))) == 0


def test_a_job_that_keeps_failing_is_kept_as_failed_and_a_retry_delivers_it(app, down_gateway, tree, login):
    worker_app, port = down_gateway  # the worker's settings: the http gateway
    _return_and_confirm(worker_app, tree)
    with worker_app.app_context():
        moment = utcnow()
        for _ in range(8):
            moment += timedelta(hours=2)
            work_off(now=moment)
        failed = _jobs(FAILED)
        assert len(failed) == 2 and all(job.attempts == job.max_attempts == 8 for job in failed)
        assert all(job.payload is not None for job in failed)  # kept, to be retried
        failed_id = failed[0].id

    security = app.test_client()
    login(security, tree.security_admin.phone)
    security.run_worker = False  # the worker here is the http one below
    page = security.get("/security/jobs/").get_data(as_text=True)
    assert "短信网关发送失败" in page and f'data-job="{failed_id}"' in page
    assert tree.gz_merchant.phone not in page and tree.budget_unit.phone not in page
    with gateway_on(port) as received:
        answer = security.post(f"/security/jobs/{failed_id}/retry", data={"csrf_token": csrf_token(security, "/security/jobs/")})
        assert answer.status_code == 302
        with worker_app.app_context():
            assert db.session.get(Job, failed_id).status == QUEUED
            assert work_off() == 1
            assert db.session.get(Job, failed_id).status == DONE
        assert len(received) == 1
    with app.app_context():
        event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "job_retried")).one()
        assert event.account_id == tree.security_admin.id and event.object_ref == f"job:{failed_id}"
    # Only a failed job can be retried.
    again = security.post(f"/security/jobs/{failed_id}/retry", data={"csrf_token": csrf_token(security, "/security/jobs/")},
                          follow_redirects=True)
    assert "只有失败的任务可以重试" in again.get_data(as_text=True)


def test_a_job_claimed_by_a_worker_that_died_is_done_by_the_next_once_its_lease_ends(app, tree, outbox):
    _return_and_confirm(app, tree)
    with app.app_context():
        now = utcnow()
        dead = claim(now=now, worker="dead-worker")  # and then the worker is killed
        assert dead is not None
        assert work_off(now=now) == 1  # the other job; the dead worker's is still leased
        assert db.session.get(Job, dead.id).status == "running"
        assert work_off(now=now + timedelta(minutes=2)) == 1
        job = db.session.get(Job, dead.id)
        assert (job.status, job.attempts) == (DONE, 2)
    ids = [message["id"] for message in outbox.messages()]
    assert sorted(ids) == sorted(set(ids)) and len(ids) == 2


def test_two_workers_never_run_one_job_twice(app, tree, outbox):
    with app.app_context():
        merchant, market = db.session.get(Account, tree.gz_merchant.id), db.session.get(Account, tree.gz_market.id)
        for _ in range(6):
            record = file_record(merchant, app.instance_path)
            records.return_for_changes(market, record, expected_version=record.version, reason="凭证不清晰")
        db.session.commit()
    counts, errors = [], []

    def worker():
        try:
            with app.app_context():
                counts.append(work_off())
        except Exception as error:  # noqa: BLE001 (reported below)
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    with app.app_context():
        assert work_off() == 0
    assert not [error for error in errors if "locked" not in str(error)]
    ids = [message["id"] for message in outbox.messages()]
    assert len(ids) == 6 and len(set(ids)) == 6


def test_the_worker_command_runs_what_is_due_and_stops(app, tree, outbox):
    _return_and_confirm(app, tree)
    result = app.test_cli_runner().invoke(args=["worker", "--burst"])
    assert result.exit_code == 0, result.output
    assert "本次执行 2 个任务" in result.output
    assert len(outbox.messages()) == 2


def test_an_expired_job_is_dropped_not_sent(app, tree, outbox):
    from portal.notifications import notify

    with app.app_context():
        job = notify(tree.gz_merchant.phone, "过时的提醒", "notice")
        job.expires_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
        assert run(claim()) == "expired"
    assert outbox.messages() == []


def test_backoff_doubles_up_to_an_hour():
    assert [backoff(n).total_seconds() for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert backoff(30) == timedelta(hours=1)
