"""Two requests at once on one number: the interleaving that breaks a check-then-write is forced.

A barrier placed in the database driver (a `before_cursor_execute` listener) holds each thread
just before its first write to `sms_code`, so both have done every read before either writes.
Where the code serialises the two requests itself (a row lock, an advisory lock), the second
never reaches the barrier while the first waits there: the barrier times out and the first goes
on. So the test fails every run when the guard is taken away, and passes, a little slower, with it.
"""
import threading
from contextlib import contextmanager
from datetime import datetime, timedelta

import pytest
from flask import current_app
from sqlalchemy import event, func, select

from portal.accounts.codes import CODE_GONE, CodePolicy, CodeRefused, check_code, issue_code
from portal.accounts.models import SmsCode
from portal.extensions import db

T0 = datetime(2024, 3, 4, 9, 0, 0)
PHONE = "13800138000"
#: how long a thread waits at the barrier for the other, which a lock may be holding back
BARRIER_SECONDS = 3


@pytest.fixture
def policy(ctx):
    return CodePolicy.from_config(current_app.config)


def _on_postgresql():
    return db.engine.dialect.name == "postgresql"


@contextmanager
def meeting_before(statement_start):
    """Each thread waits for the other before running a statement that starts with this text."""
    barrier = threading.Barrier(2, timeout=BARRIER_SECONDS)
    met = []

    def hold(conn, cursor, statement, parameters, context, executemany):
        if " ".join(statement.split()).upper().startswith(statement_start.upper()):
            try:
                barrier.wait()
                met.append(True)
            except threading.BrokenBarrierError:
                pass  # the other thread is held back by a lock: go on alone

    event.listen(db.engine, "before_cursor_execute", hold)
    try:
        yield met
    finally:
        event.remove(db.engine, "before_cursor_execute", hold)


def at_once(work):
    """Run `work` in two threads, each with its own session and transaction (as two gunicorn
    workers would), committing after it; returns the two outcomes."""
    app = current_app._get_current_object()
    db.session.commit()  # what the test set up must be visible to the other connections
    outcomes, failures = [], []

    def request():
        try:
            with app.app_context():
                try:
                    outcomes.append(work())
                finally:
                    db.session.commit()
        except Exception as exc:  # a failure in a thread must fail the test, not vanish
            failures.append(exc)

    threads = [threading.Thread(target=request) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not failures, failures
    assert len(outcomes) == 2
    db.session.expire_all()
    return outcomes


def test_a_code_read_by_two_requests_is_accepted_once(policy):
    """Both requests read the open code before either marks it used: only the conditional
    UPDATE (used_at still empty) keeps the second from being accepted too."""
    _, code = issue_code(policy, PHONE, "login", deliver=True, now=T0)

    def accept():
        try:
            check_code(policy, PHONE, "login", code, now=T0 + timedelta(seconds=10))
            return "accepted"
        except CodeRefused as refused:
            return refused.message

    with meeting_before("UPDATE sms_code SET used_at") as met:
        outcomes = at_once(accept)
    assert sorted(outcomes) == ["accepted", CODE_GONE]
    if not _on_postgresql():
        assert len(met) == 2, "the two requests did not both read the code before writing"


def test_two_sends_at_once_keep_the_per_minute_limit(policy, request):
    """Two requests for a code to one number at the same moment: one code goes out, the other
    request is told to wait. Both count the codes of the last minute before either writes
    unless the advisory lock on the number holds the second back."""
    if not _on_postgresql():
        # issue_code takes its lock only on PostgreSQL: on SQLite both sends count before
        # either writes, and both go out. Strict, so that the day it is fixed this says so.
        request.applymarker(pytest.mark.xfail(
            strict=True, reason="SQLite: no per-number lock in issue_code, two sends at once both pass"))

    def send():
        try:
            issue_code(policy, PHONE, "login", deliver=True, now=T0)
            return "sent"
        except CodeRefused as refused:
            return refused.message

    with meeting_before("UPDATE sms_code SET voided_at") as met:
        outcomes = at_once(send)
    assert sorted(outcomes) == ["sent", "验证码已发送，请1分钟后再重新获取"]
    assert db.session.scalar(select(func.count(SmsCode.id)).where(SmsCode.with_phone(PHONE))) == 1
    assert met == [], "the second send reached its write while the first held the number"
