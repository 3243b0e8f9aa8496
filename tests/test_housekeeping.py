"""剩余信息保护: `flask purge-expired` removes what a login leaves behind once nothing needs it."""
import os
from datetime import timedelta, timezone

from flask import current_app
from sqlalchemy import func, select

from portal.accounts.codes import CodePolicy, CodeRefused, check_code, issue_code
from portal.accounts.housekeeping import EXPORT_KEEP_DAYS, KEEP_DAYS
from portal.accounts.models import Account, CodeFailure, LoginSession, SmsCode
from portal.accounts.sessions import start_session
from portal.clock import utcnow
from portal.extensions import db
from portal.jobs import exports
from portal.jobs.models import Job


def _count(model):
    return db.session.scalar(select(func.count()).select_from(model))


def test_old_codes_tries_and_sessions_go_and_recent_ones_stay(app, tree):
    with app.app_context():
        policy = CodePolicy.from_config(current_app.config)
        phone = tree.gz_market.phone
        long_ago = utcnow() - timedelta(days=KEEP_DAYS + 1)
        old_code, _ = issue_code(policy, phone, "login", deliver=True, ip="10.0.0.9", now=long_ago)
        try:
            check_code(policy, phone, "login", "000000", ip="10.0.0.9", now=long_ago)
        except CodeRefused:
            pass
        old_session = start_session(db.session.get(Account, tree.gz_market.id), now=long_ago)
        recent_code, _ = issue_code(policy, phone, "register", deliver=True, ip="10.0.0.9")
        recent_session = start_session(db.session.get(Account, tree.gz_office.id))
        db.session.add_all([Job(kind="sms", status=status, finished_at=finished, summary=status)
                            for status, finished in (("done", long_ago), ("expired", long_ago), ("failed", long_ago),
                                                     ("failed", utcnow()))])
        db.session.commit()
        recent_code_id = recent_code.id
        assert _count(CodeFailure) == 1 and _count(SmsCode) == 2 and _count(LoginSession) == 2

    with app.app_context():
        old_file, new_file = exports.folder() / ("a" * 32 + ".xlsx"), exports.folder() / ("b" * 32 + ".xlsx")
        for path in (old_file, new_file):
            path.write_bytes(b"PK")
        ages_ago = (utcnow() - timedelta(days=EXPORT_KEEP_DAYS + 1)).replace(tzinfo=timezone.utc).timestamp()
        os.utime(old_file, (ages_ago, ages_ago))
    result = app.test_cli_runner().invoke(args=["purge-expired"])
    assert result.exit_code == 0, result.output
    assert "sms_code 1" in result.output and "login_session 1" in result.output

    with app.app_context():
        assert db.session.scalars(select(SmsCode.id)).all() == [recent_code_id]
        assert _count(CodeFailure) == 0 and _count(LoginSession) == 1
        # a recent failure stays for its retry; one a month old goes, with its payload
        assert db.session.scalars(select(Job.status)).all() == ["failed"]
    assert not old_file.exists() and new_file.exists()
    assert old_session != recent_session
