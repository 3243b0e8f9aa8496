"""The audit trail's hash chain: `audit-verify` passes an untouched trail and names the first
changed, deleted or inserted row; PostgreSQL itself refuses the application's UPDATE and DELETE;
archiving moves old rows to a signed file and the chain still verifies from its anchor."""
import json
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from portal import audit
from portal.audit import AuditAnchor, AuditEvent
from portal.audit_chain import verify, verify_archive
from portal.clock import utcnow
from portal.config import ConfigurationError, load_settings
from portal.extensions import db


def run(app, *args):
    return app.test_cli_runner().invoke(args=list(args))


def add_rows(app, count, *, days_ago=0):
    """COUNT audit rows, each its own transaction as requests make them; their ids."""
    ids = []
    with app.app_context():
        at = utcnow() - timedelta(days=days_ago)
        for i in range(count):
            event = audit.record("login", object_ref=f"test:{i}", detail={"n": i}, ip="10.1.2.3", at=at)
            db.session.commit()
            ids.append(event.id)
    return ids


def tamper(app, sql, **params):
    """Change the table behind the application's back, as someone with database access would."""
    with app.app_context():
        with db.engine.begin() as conn:
            postgres = conn.dialect.name == "postgresql"
            if postgres:  # the test database's user is a superuser: it may switch the guard off
                conn.execute(text("ALTER TABLE audit_event DISABLE TRIGGER audit_event_append_only"))
            conn.execute(text(sql), params)
            if postgres:
                conn.execute(text("ALTER TABLE audit_event ENABLE TRIGGER audit_event_append_only"))


def seq_of(app, event_id):
    with app.app_context():
        return db.session.get(AuditEvent, event_id).seq


def test_an_untouched_trail_verifies(app, tree):
    add_rows(app, 5)
    result = run(app, "audit-verify")
    assert result.exit_code == 0, result.output
    assert "日志完整" in result.output
    with app.app_context():
        seqs = db.session.scalars(select(AuditEvent.seq).order_by(AuditEvent.id)).all()
    assert seqs == list(range(1, len(seqs) + 1))


def test_a_changed_row_is_named(app, tree):
    ids = add_rows(app, 5)
    target = ids[2]
    tamper(app, "UPDATE audit_event SET result = 'denied' WHERE id = :id", id=target)
    result = run(app, "audit-verify")
    assert result.exit_code == 1
    assert f"第{seq_of(app, target)}条日志（编号{target}）内容被修改" in result.output


def test_a_changed_time_or_detail_is_named(app, tree):
    ids = add_rows(app, 3)
    tamper(app, "UPDATE audit_event SET detail = :d WHERE id = :id", d='{"n": 99}', id=ids[0])
    assert f"（编号{ids[0]}）内容被修改" in run(app, "audit-verify").output


def test_a_deleted_row_is_named(app, tree):
    ids = add_rows(app, 5)
    gone = seq_of(app, ids[1])
    tamper(app, "DELETE FROM audit_event WHERE id = :id", id=ids[1])
    result = run(app, "audit-verify")
    assert result.exit_code == 1
    assert f"第{gone}条日志缺失（在编号{ids[2]}的日志之前）" in result.output


def test_an_inserted_row_is_named(app, tree):
    add_rows(app, 3)
    tamper(app, "INSERT INTO audit_event (at, action, result) VALUES (:at, 'login', 'ok')", at=utcnow())
    with app.app_context():
        forged = db.session.scalar(select(AuditEvent.id).where(AuditEvent.seq.is_(None)))
    result = run(app, "audit-verify")
    assert result.exit_code == 1
    assert f"编号{forged}的日志是插入的" in result.output


def test_an_inserted_row_copying_a_position_is_named(app, tree):
    ids = add_rows(app, 3)
    seq = seq_of(app, ids[1])
    with app.app_context():
        copied = db.session.get(AuditEvent, ids[1])
        values = dict(at=copied.at, hash=copied.chain_hash)
    # a unique position cannot be taken twice: the forger renumbers the original out of the way
    tamper(app, "UPDATE audit_event SET seq = seq + 1000000 WHERE id = :id", id=ids[2])
    tamper(app, "INSERT INTO audit_event (at, action, result, seq, chain_hash) "
                "VALUES (:at, 'logout', 'ok', :seq, :hash)", at=values["at"], seq=seq + 1, hash=values["hash"])
    result = run(app, "audit-verify")
    assert result.exit_code == 1
    assert f"第{seq + 1}条日志" in result.output and "内容被修改" in result.output


def test_postgres_refuses_the_applications_own_update_and_delete(app, tree, is_postgres):
    if not is_postgres:
        pytest.skip("the database-level guard is PostgreSQL's")
    ids = add_rows(app, 2)
    with app.app_context():
        event = db.session.get(AuditEvent, ids[0])
        event.result = "denied"
        with pytest.raises(DBAPIError, match="append-only"):
            db.session.commit()
        db.session.rollback()
        db.session.delete(db.session.get(AuditEvent, ids[1]))
        with pytest.raises(DBAPIError, match="append-only"):
            db.session.commit()
        db.session.rollback()
        # the archive's flag does not let a young row go either
        db.session.execute(text("SELECT set_config('portal.audit_archive', 'on', true)"))
        with pytest.raises(DBAPIError, match="append-only"):
            db.session.execute(text("DELETE FROM audit_event WHERE id = :id"), {"id": ids[1]})
        db.session.rollback()
        assert db.session.get(AuditEvent, ids[1]).result == "ok"
    assert run(app, "audit-verify").exit_code == 0


def test_archive_round_trip(app, tmp_path):
    old = add_rows(app, 4, days_ago=400)
    young = add_rows(app, 2, days_ago=179)
    result = run(app, "audit-archive", "--to", str(tmp_path / "archive"))
    assert result.exit_code == 0, result.output
    assert "已归档第1至第4条日志（共4条）" in result.output
    files = sorted((tmp_path / "archive").glob("*.jsonl"))
    assert len(files) == 1
    lines = [json.loads(line) for line in files[0].read_text(encoding="utf-8").splitlines()]
    assert [line["id"] for line in lines] == old and [line["seq"] for line in lines] == [1, 2, 3, 4]
    assert lines[0]["detail"] == '{"n": 0}' and lines[0]["ip"] == "10.1.2.3"
    assert verify_archive(files[0], app.config["AUDIT_HMAC_KEY"])
    meta = json.loads((files[0].parent / f"{files[0].name}.sig").read_text(encoding="utf-8"))
    assert meta["rows"] == len(lines) and meta["anchor_hash"] == lines[-1]["chain_hash"]
    with app.app_context():
        remaining = db.session.scalars(select(AuditEvent.id)).all()
        assert set(young) <= set(remaining)
        assert not {line["id"] for line in lines} & set(remaining)
        assert db.session.scalar(select(AuditAnchor.seq)) == 4
        assert len(remaining) == len(young) + 1  # and the archive's own row
    verified = run(app, "audit-verify")
    assert verified.exit_code == 0, verified.output
    # a changed archive no longer matches its signature
    files[0].write_text(files[0].read_text(encoding="utf-8").replace('"login"', '"logout"', 1), encoding="utf-8")
    assert not verify_archive(files[0], app.config["AUDIT_HMAC_KEY"])


def test_archive_takes_old_rows_only_from_the_start_of_the_chain(app, tmp_path):
    old = add_rows(app, 3, days_ago=365)
    young = add_rows(app, 1, days_ago=10)
    later_old = add_rows(app, 2, days_ago=300)  # stamped later with an old time (an import)
    result = run(app, "audit-archive", "--to", str(tmp_path))
    assert result.exit_code == 0, result.output
    with app.app_context():
        remaining = set(db.session.scalars(select(AuditEvent.id)))
    assert not set(old) & remaining
    assert set(young) | set(later_old) <= remaining
    assert run(app, "audit-verify").exit_code == 0
    # nothing old left at the start: a second run archives nothing
    again = run(app, "audit-archive", "--to", str(tmp_path / "again"))
    assert again.exit_code == 0 and "无需归档" in again.output


def test_archive_refuses_a_broken_chain(app, tmp_path):
    ids = add_rows(app, 3, days_ago=400)
    tamper(app, "UPDATE audit_event SET ip = '10.0.0.1' WHERE id = :id", id=ids[1])
    result = run(app, "audit-archive", "--to", str(tmp_path))
    assert result.exit_code == 1 and "日志链已损坏" in result.output
    with app.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(AuditEvent)) == 3


def test_rows_appended_after_an_archive_chain_on_its_anchor(app, tmp_path):
    add_rows(app, 2, days_ago=400)
    assert run(app, "audit-archive", "--to", str(tmp_path)).exit_code == 0
    tamper(app, "DELETE FROM audit_event")
    add_rows(app, 2)
    assert run(app, "audit-verify").exit_code == 0


def test_concurrent_appends_never_fork_the_chain(app):
    errors = []

    def writer():
        try:
            for _ in range(15):
                add_rows(app, 1)
        except Exception as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    with app.app_context():
        assert verify(db.session).ok
        assert db.session.scalar(select(db.func.max(AuditEvent.seq))) == 60


def test_settings_refuse_a_short_retention_and_a_production_default_key():
    with pytest.raises(ConfigurationError, match="AUDIT_RETENTION_DAYS"):
        load_settings({"AUDIT_RETENTION_DAYS": 179})
    production = {"PORTAL_ENV": "production", "SECRET_KEY": "s" * 40, "LOGIN_CAPTCHA": "on",
                  "DATA_KEYS": "prod1:" + "5a" * 16, "SMS_BACKEND": "http", "SMS_HTTP_URL": "https://sms.example/send",
                  "PUBLIC_BASE_URL": "https://portal.example.gov.cn", "WEB_CONCURRENCY": 1}
    with pytest.raises(ConfigurationError, match="AUDIT_HMAC_KEY"):
        load_settings({**production, "AUDIT_HMAC_KEY": "short"})
    with pytest.raises(ConfigurationError, match="AUDIT_HMAC_KEY"):
        load_settings(production)
    assert load_settings({**production, "AUDIT_HMAC_KEY": "k" * 32})["AUDIT_RETENTION_DAYS"] == 180


def test_a_witness_kept_outside_the_database_reveals_entries_deleted_from_the_end(app, tree, tmp_path):
    witness = tmp_path / "audit-head"
    ids = add_rows(app, 5)
    assert run(app, "audit-verify", "--witness", str(witness)).exit_code == 0
    head = int(witness.read_text().split()[0])
    assert head == seq_of(app, ids[-1])
    tamper(app, "DELETE FROM audit_event WHERE id IN (:a, :b)", a=ids[-1], b=ids[-2])
    # The chain alone cannot tell: what is left is intact.
    assert run(app, "audit-verify").exit_code == 0
    result = run(app, "audit-verify", "--witness", str(witness))
    assert result.exit_code == 1
    assert f"第{head - 1}至第{head}条日志缺失（日志末尾被删除）" in result.output
    # Writing new entries over the deleted end is seen as well.
    add_rows(app, 3)
    result = run(app, "audit-verify", "--witness", str(witness))
    assert result.exit_code == 1 and f"第{head}条日志与上次校验时不同" in result.output
    assert int(witness.read_text().split()[0]) == head  # a failed check keeps the old witness


def test_the_chain_is_hmac_sm3():
    """GB/T 32905's example ("abc"), and the chain's MAC computed by hand with that hash."""
    import hashlib
    import hmac

    from portal.audit_chain import sm3_mac

    assert hashlib.new("sm3", b"abc").hexdigest() == (
        "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0")
    assert sm3_mac(b"k", b"m") == hmac.new(b"k", b"m", "sm3").hexdigest() != hmac.new(b"k", b"m", "sha256").hexdigest()
