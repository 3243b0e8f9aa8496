"""Migration 0010 encrypts the numbers and names an installation already holds, and its
downgrade gives them back; on SQLite and on a scratch PostgreSQL database."""
import uuid

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from portal import create_app, personal_data
from portal.accounts.models import Account
from portal.extensions import db
from portal.reservations.models import Reservation


@pytest.fixture
def scratch_url(database_url, tmp_path):
    """An empty database of the kind the run tests on."""
    if not database_url.startswith("postgresql"):
        yield f"sqlite:///{tmp_path / 'old.sqlite3'}"
        return
    name = f"portal_mig_{uuid.uuid4().hex[:10]}"
    admin = create_engine(make_url(database_url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(database_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


OLD_ROWS = """
INSERT INTO unit (id, name, kind, active, created_at) VALUES (1, '省教育厅', 'budget', true, '2026-01-01 00:00:00');
INSERT INTO account (id, unit_id, phone, name, role, active, created_at)
  VALUES (1, 1, '13912345678', '王 小明', 'admin', true, '2026-01-01 00:00:00');
INSERT INTO year_policy (year, min_ratio, encouraged_ratio, national_floor, filing_deadline, superior_deadline,
  finance_deadline, flag_below_last_year, updated_at)
  VALUES (2026, 30, 35, 10, '2026-02-20', '2026-03-01', '2026-03-10', true, '2026-01-01 00:00:00');
INSERT INTO sms_code (id, phone, purpose, code_hash, created_at, expires_at, failed_attempts, delivered)
  VALUES (1, '13912345678', 'login', 'x', '2026-01-01 00:00:00', '2026-01-01 00:10:00', 0, true);
"""


def test_existing_numbers_and_names_are_encrypted_and_come_back_on_downgrade(scratch_url, tmp_path):
    app = create_app({"SQLALCHEMY_DATABASE_URI": scratch_url, "PORTAL_INSTANCE": str(tmp_path / "instance")})
    directory = app.extensions["migrate"].directory
    with app.app_context():
        upgrade(directory=directory, revision="0009")
        for statement in filter(str.strip, OLD_ROWS.split(";")):
            db.session.execute(text(statement))
        db.session.execute(text(
            "INSERT INTO reservation (id, unit_id, finance_id, year, status, version, flags, contact_name, contact_mobile, "
            "created_at, updated_at) VALUES (1, 1, 1, 2026, 'draft', 1, '', '李晓明', '13987654321', "
            "'2026-01-01 00:00:00', '2026-01-01 00:00:00')"))
        db.session.commit()

        upgrade(directory=directory, revision="0010")
        [(phone, name, masked)] = db.session.execute(text("SELECT phone, name, phone_masked FROM account")).all()
        assert phone.startswith("sm4gcm.") and name.startswith("sm4gcm.") and masked == "139****5678"
        account = db.session.scalar(select(Account).where(Account.with_phone("13912345678")))
        assert (account.phone, account.name) == ("13912345678", "王 小明")
        assert account.name_key == personal_data.name_key("王小明")
        [(contact,)] = db.session.execute(text("SELECT contact_mobile FROM reservation")).all()
        assert contact.startswith("sm4gcm.")
        assert db.session.get(Reservation, 1).contact_mobile == "13987654321"
        # Codes in flight held the number in clear: gone.
        assert db.session.scalar(text("SELECT count(*) FROM sms_code")) == 0
        db.session.remove()

        downgrade(directory=directory, revision="0009")
        assert db.session.execute(text("SELECT phone, name FROM account")).all() == [("13912345678", "王 小明")]
        assert db.session.execute(text("SELECT contact_name, contact_mobile FROM reservation")).all() == [
            ("李晓明", "13987654321")]
        db.session.remove()
        db.engine.dispose()
