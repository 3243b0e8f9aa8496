"""Fixtures: an app on SQLite (default) or on TEST_DATABASE_URL, a clean database per test,
a unit tree from tests/factories.py, and a helper that logs an account in through the real
SMS-code login."""
import os
import re
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from portal import create_app
from portal.extensions import db
from portal.reference.loader import load_reference_data

#: tables that keep the reference data between tests
REFERENCE_TABLES = {"gd_city", "region", "dictionary_entry", "reporting_period", "alembic_version"}


def _database_url(tmp_path_factory):
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            exists = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": parsed.database})
            if not exists:
                conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
        admin.dispose()
    return url


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    """Create the schema once per run through the migrations, as init-db does."""
    url = _database_url(tmp_path_factory)
    instance = tmp_path_factory.mktemp("instance")
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "PORTAL_INSTANCE": str(instance)})
    with app.app_context():
        with db.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # everything an earlier run left, tables that a later migration dropped included
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
        db.drop_all()
        with db.engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
        from portal.cli import apply_schema
        apply_schema()
        db.engine.dispose()
    return url


@pytest.fixture
def is_postgres(database_url):
    return database_url.startswith("postgresql")


def _wipe(app):
    tables = [t for t in db.metadata.sorted_tables if t.name not in REFERENCE_TABLES]
    with db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # DELETE of the few rows a test leaves costs 6 ms where TRUNCATE of every table cost
            # 370 ms (new files for each): minutes over the suite. Replica mode lets it past the
            # audit trail's append-only triggers (the tests' role is a superuser); the ids start
            # again at 1, as TRUNCATE … RESTART IDENTITY made them.
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            for table in reversed(tables):
                conn.execute(table.delete())
            serial = [t.name for t in tables if "id" in t.c and t.c.id.primary_key and t.c.id.autoincrement]
            conn.execute(text("SELECT setval(pg_get_serial_sequence(name, 'id'), 1, false) FROM unnest(CAST(:names AS text[])) AS name"
                              " WHERE pg_get_serial_sequence(name, 'id') IS NOT NULL"), {"names": serial})
        else:
            for table in reversed(tables):
                conn.execute(table.delete())


@pytest.fixture
def app_factory(database_url, tmp_path):
    """Make an app with overrides; the database is emptied (but for reference data) first."""
    made = []

    def make(**overrides):
        config = {
            "SQLALCHEMY_DATABASE_URI": database_url,
            "PORTAL_INSTANCE": str(tmp_path / "instance"),
            "SMS_BACKEND": "outbox",
            "TESTING": True,
            "RATELIMIT_STORAGE_URI": "memory://",
            "LOGIN_CAPTCHA": "off",  # tests/test_captcha.py and the captcha journey turn it on
        }
        config.update(overrides)
        app = create_app(config)
        app.test_client_class = WorkerClient
        made.append(app)
        return app

    yield make
    for app in made:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def app(app_factory):
    app = app_factory()
    with app.app_context():
        _wipe(app)
        load_reference_data()
        db.session.commit()
    return app


@pytest.fixture
def reference_edits(app):
    """For a test that edits the reference data the other tests share (periods, list entries,
    key-county flags): afterwards the rows it added go and the flags it changed come back."""
    from sqlalchemy import select, update

    from portal.records.models import ReportingPeriod
    from portal.reference.models import DictionaryEntry, Region

    with app.app_context():
        periods = dict(db.session.execute(select(ReportingPeriod.id, ReportingPeriod.open)).all())
        entries = dict(db.session.execute(select(DictionaryEntry.id, DictionaryEntry.active)).all())
        key_counties = set(db.session.scalars(select(Region.code).where(Region.key_county.is_(True))))
    yield
    with app.app_context():
        db.session.rollback()
        _wipe(app)  # records may point at an added period or entry
        db.session.execute(ReportingPeriod.__table__.delete().where(ReportingPeriod.id.not_in(periods)))
        db.session.execute(DictionaryEntry.__table__.delete().where(DictionaryEntry.id.not_in(entries)))
        for model, flags, column in ((ReportingPeriod, periods, "open"), (DictionaryEntry, entries, "active")):
            for value in (True, False):
                ids = [key for key, flag in flags.items() if flag is value]
                if ids:
                    db.session.execute(update(model).where(model.id.in_(ids)).values({column: value}))
        db.session.execute(update(Region).values(key_county=Region.code.in_(key_counties)))
        db.session.commit()


@pytest.fixture
def ctx(app):
    """An application context for domain tests that talk to the database directly."""
    with app.app_context():
        yield
        db.session.rollback()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def tree(app):
    """The unit tree of tests/factories.py, committed; each role as plain data
    (id, phone, name, unit_id, city_code) that outlives the session that made it."""
    from types import SimpleNamespace

    from tests.factories import build_tree

    with app.app_context():
        made = build_tree()
        db.session.commit()
        return SimpleNamespace(**{
            role: SimpleNamespace(id=account.id, phone=account.phone, name=account.name,
                                  unit_id=account.unit_id, city_code=account.unit.city_code)
            for role, account in vars(made).items()
        })


def run_worker_pass(app):
    """What `flask worker` beside the server does: run the jobs that are due, in its own session.
    While the test itself holds a write transaction open on SQLite the worker cannot claim (a
    real one would wait): it gives up at once, and the jobs run at the next pass."""
    from sqlalchemy.exc import OperationalError

    from portal.jobs import work_off

    with app.app_context():
        sqlite = db.engine.dialect.name == "sqlite"
        try:
            if sqlite:
                db.session.execute(text("PRAGMA busy_timeout = 50"))
            work_off()
        except OperationalError:  # locked, or the database is away (a test of an outage)
            db.session.rollback()
        finally:
            if sqlite:
                try:
                    db.session.execute(text("PRAGMA busy_timeout = 5000"))
                    db.session.commit()
                except OperationalError:
                    db.session.rollback()


class WorkerClient(FlaskClient):
    """A test client with a job worker beside the server: once a request has been answered, the
    jobs it queued (sheets, messages) run, as the worker would take them a moment later. A test
    that looks at the moment in between sets run_worker = False."""

    run_worker = True

    def open(self, *args, **kwargs):
        response = super().open(*args, **kwargs)
        if self.run_worker:
            run_worker_pass(self.application)
        return response


class Outbox:
    """The SMS outbox file the `outbox` backend writes, read as a person reads their phone: with
    a worker running, so the messages due are sent first (SMS are jobs: portal/notifications.py)."""

    def __init__(self, path, app=None):
        self.path, self.app = Path(path), app

    def messages(self, phone=None):
        import json

        if self.app is not None:
            self._sent_all()
        if not self.path.exists():
            return []
        rows = [json.loads(line) for line in self.path.read_text(encoding="utf-8").splitlines() if line]
        return [row for row in rows if phone is None or row["to"] == phone]

    def _sent_all(self, wait=10.0):
        """Run the worker's pass, then wait while another worker (beside a live server) is still
        sending a message that is due: what the outbox holds then is complete, so the newest code
        read from it is the one just asked for, not the one before."""
        import time

        from sqlalchemy import func, select

        from portal.clock import utcnow
        from portal.jobs.models import Job

        deadline = time.monotonic() + wait
        while True:
            run_worker_pass(self.app)
            with self.app.app_context():
                # running under a live lease: another worker is sending it now (a job still queued
                # after the pass is one the test's own open transaction keeps us from: not waited for)
                busy = db.session.scalar(select(func.count(Job.id)).where(
                    Job.kind == "sms", Job.status == "running", Job.locked_until > utcnow()))
            if not busy or time.monotonic() > deadline:
                return
            time.sleep(0.05)

    def received(self, phone, words, wait=5.0):
        """Whether a message holding the words reached the number, waiting a moment for it (a
        worker beside a live server may be sending it right now)."""
        import time

        deadline = time.monotonic() + wait
        while not any(words in message["text"] for message in self.messages(phone)):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)
        return True

    def last_code(self, phone, wait=5.0):
        """The newest code sent to the number. A worker beside a live server may be sending it
        right now: like a person, wait a moment for the message before saying there is none."""
        import time

        deadline = time.monotonic() + wait
        while True:
            for row in reversed(self.messages(phone)):
                match = re.search(r"验证码为(\d{6})", row["text"])
                if match:
                    return match.group(1)
            if time.monotonic() > deadline:
                return None
            time.sleep(0.1)


@pytest.fixture
def outbox(app):
    from portal.accounts.sms import outbox_path

    return Outbox(outbox_path(app.config), app)


def csrf_token(client, path="/login"):
    page = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page) or re.search(
        r'"X-CSRFToken": "([^"]+)"', page)
    return match.group(1)


@pytest.fixture
def login(app, outbox):
    """Log a phone in through the real flow: send code, read it from the outbox, post it."""

    def do_login(client, phone):
        token = csrf_token(client)
        sent = client.post("/login/code", data={"phone": phone, "csrf_token": token})
        assert sent.status_code == 200, sent.get_data(as_text=True)
        code = outbox.last_code(phone)
        assert code, f"no code in the outbox for {phone}"
        response = client.post("/login", data={"phone": phone, "code": code, "csrf_token": token})
        assert response.status_code == 302, response.get_data(as_text=True)
        if response.headers["Location"].endswith("/second-factor"):
            complete_second_factor(app, client, phone)
        return client

    return do_login


def totp_code_for(app, phone):
    """The code an enrolled account's authenticator shows, for a time step not used yet (the
    portal refuses a code twice), or None when all of now ± one step are used: its secret read
    from the database and decrypted, as the app on the person's phone holds it."""
    import time

    import pyotp
    from sqlalchemy import select

    from portal.accounts.models import Account
    from portal.accounts.second_factor import VALID_WINDOW, factor_of, secret_of

    with app.app_context():
        factor = factor_of(db.session.scalar(select(Account).where(Account.with_phone(phone))))
        totp, last = pyotp.TOTP(secret_of(factor)), factor.last_step
    now = totp.timecode(time.time())
    steps = [step for step in range(now - VALID_WINDOW, now + VALID_WINDOW + 1) if last is None or step > last]
    return totp.generate_otp(steps[0]) if steps else None


def complete_second_factor(app, client, phone):
    """After the SMS code of an account that has or needs a second factor: enrol it on its
    first login (the secret read from the page's manual-entry text; the recovery codes kept on
    the app), else give its code, or a kept recovery code when a test logs the account in more
    often than the clock gives new codes."""
    import pyotp

    kept = app.extensions.setdefault("test_recovery_codes", {})
    target = client.get("/second-factor").headers["Location"]
    token = csrf_token(client, target)
    if target.endswith("/enrol"):
        page = client.get(target).get_data(as_text=True)
        secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', page).group(1).replace(" ", "")
        done = client.post(target, data={"code": pyotp.TOTP(secret).now(), "csrf_token": token})
        assert done.status_code == 200 and "恢复码" in done.get_data(as_text=True), done.get_data(as_text=True)
        kept[phone] = re.findall(r"<li[^>]*>([A-Z2-9]{5}-[A-Z2-9]{5})</li>", done.get_data(as_text=True))
    else:
        code = totp_code_for(app, phone) or kept[phone].pop()
        done = client.post(target, data={"code": code, "csrf_token": token})
        assert done.status_code == 302, done.get_data(as_text=True)


@pytest.fixture
def as_role(app, tree, login):
    """A logged-in client per role of the tree, made on first use."""
    clients = {}

    def get(role):
        if role not in clients:
            clients[role] = login(app.test_client(), getattr(tree, role).phone)
        return clients[role]

    return get


@pytest.fixture
def open_year(app):
    """Next year, whose reserved-share filing is open for another month under a 30% minimum."""
    from datetime import timedelta

    from portal.clock import to_china, utcnow
    from portal.reservations.models import YearPolicy

    with app.app_context():
        today = to_china(utcnow()).date()
        db.session.add(YearPolicy(year=today.year + 1, min_ratio=30, encouraged_ratio=15, national_floor=10,
                                  filing_deadline=today + timedelta(days=30), flag_below_last_year=True))
        db.session.commit()
        return today.year + 1
