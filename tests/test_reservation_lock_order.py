"""On PostgreSQL, a flush that writes a reserved-share form takes the audit trail's lock before it
locks the form's row and its tallies' rows: the order every transition keeps from its version
check on (concurrency.check_version), so that two writers at once wait for each other instead of
deadlocking. bench.load saw the deadlock with eight requests at once, a step's save against a
superior's confirmation, each holding what the other wanted."""
import pytest
from sqlalchemy import text

from portal.audit import AuditEvent
from portal.audit_chain import LOCK_ID
from portal.extensions import db
from tests.factories import make_reservation

HELD = text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = 0 AND objid = :lock"
            " AND pid = pg_backend_pid() AND granted")


@pytest.mark.postgres_only
def test_writing_a_form_takes_the_trail_lock_first(app, tree, is_postgres):
    if not is_postgres:
        pytest.skip("needs PostgreSQL: TEST_DATABASE_URL=postgresql+psycopg://…")
    with app.app_context():
        form = make_reservation(tree)
        db.session.commit()
        form.status = "confirmed"  # counted by its superior's and finance's tallies
        assert not any(isinstance(obj, AuditEvent) for obj in db.session.new)  # no audit row asks for it
        with db.session.no_autoflush:
            assert db.session.scalar(HELD, {"lock": LOCK_ID}) == 0
        db.session.flush()  # the form's UPDATE and its tallies'
        assert db.session.scalar(HELD, {"lock": LOCK_ID}) == 1
        db.session.rollback()
