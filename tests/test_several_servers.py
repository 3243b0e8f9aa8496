"""Several app servers: files behind one store (portal/storage.py) in FILES_DIR, a shared mount.

On SQLite and PostgreSQL: a store never overwrites a file nor shows half of one, and refuses names
that leave its folder; FILES_DIR defaults to the instance folder and must exist when set; a voucher
uploaded through one app (its own instance folder) is served by another sharing FILES_DIR, and so
is a sheet; the backup reads both from there; a voucher whose transaction does not commit leaves
no file.

On PostgreSQL with Redis: two real servers (gunicorn, different ports, their own instance folders)
and two workers on one database of their own, one Redis database and one FILES_DIR (a folder
standing for the shared mount): a voucher uploaded through A is served by B, a rate limit counts
requests to both, and each of many queued jobs is done once by whichever worker took it.
"""
import http.cookiejar
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from portal import create_app, storage
from portal.accounts.models import Account
from portal.backup import backup_command
from portal.config import ConfigurationError, load_settings
from portal.extensions import db
from portal.jobs.models import DONE, Job
from portal.notifications import notify
from portal.records import vouchers
from portal.records.models import Voucher
from portal.reservations import sheets
from tests.conftest import csrf_token
from tests.factories import build_tree, file_record, make_reservation
from tests.records_helpers import PDF, PNG

ROOT = Path(__file__).resolve().parent.parent


# -- the store ----------------------------------------------------------------------------------

def test_a_store_never_overwrites_and_never_leaves_half_a_file(tmp_path, monkeypatch):
    files = storage.FileStore(tmp_path / "vouchers")
    first = files.save("2025/06", ".pdf", b"first")
    taken = first.split("/")[-1].removesuffix(".pdf")
    real = storage.secrets.token_hex
    names = iter([taken, "e" * 32])
    monkeypatch.setattr(storage.secrets, "token_hex", lambda n: next(names) if n == 16 else real(n))
    second = files.save("2025/06", ".pdf", b"second")
    assert second == "2025/06/" + "e" * 32 + ".pdf"
    assert (files.read(first), files.read(second)) == (b"first", b"second")
    assert files.names() == sorted([first, second])
    assert not [path for path in (tmp_path / "vouchers").rglob("*") if path.name.startswith(".")]
    files.delete(first)
    assert not files.exists(first) and files.exists(second)


@pytest.mark.parametrize("name", ["../x.pdf", "/etc/passwd", "2025/../../x", "", "2025/.x.part", "a\\..\\b"])
def test_a_name_that_leaves_its_folder_is_refused(tmp_path, name):
    files = storage.FileStore(tmp_path / "sheets")
    with pytest.raises(storage.UnsafeName):
        files.path_of(name)
    assert not files.exists(name)
    with pytest.raises(storage.UnsafeName):
        files.save("../elsewhere", ".pdf", b"x")


def test_files_stay_in_the_instance_folder_unless_files_dir_is_set(app, tmp_path, monkeypatch):
    assert app.config["FILES_DIR"] == ""
    with app.app_context():
        assert vouchers.voucher_root() == Path(app.instance_path) / "vouchers"
        assert sheets.sheet_root(app.instance_path) == Path(app.instance_path) / "sheets"
    monkeypatch.setenv("FILES_DIR", str(tmp_path / "not-mounted"))
    with pytest.raises(ConfigurationError, match="FILES_DIR"):
        load_settings()
    (tmp_path / "not-mounted").mkdir()
    assert load_settings()["FILES_DIR"] == str((tmp_path / "not-mounted").resolve())


@pytest.fixture
def two_apps(app, app_factory, tmp_path):
    """Two app instances on one database, each with its own instance folder, sharing FILES_DIR."""
    shared = tmp_path / "shared"
    shared.mkdir()
    first = app_factory(FILES_DIR=str(shared))  # the instance folder of `app`, whose outbox login reads
    second = app_factory(FILES_DIR=str(shared), PORTAL_INSTANCE=str(tmp_path / "second"))
    return first, second, shared


def logged_in_on(second, client):
    """The other server's client with the same browser cookie (sessions live in the database)."""
    other = second.test_client()
    cookie = client.get_cookie("portal_session")
    other.set_cookie("portal_session", cookie.value, domain=cookie.domain)
    return other


def test_a_voucher_uploaded_through_one_app_is_served_by_the_other(two_apps, tree, login):
    first, second, shared = two_apps
    with first.app_context():
        record = file_record(db.session.get(Account, tree.gz_merchant.id), first.instance_path, submit=False)
        db.session.commit()
        record_id = record.id
    client = login(first.test_client(), tree.gz_merchant.phone)
    token = csrf_token(client, "/")
    sent = client.post(f"/records/{record_id}/vouchers", data={"kind": "invoice", "file": (io.BytesIO(PDF), "合同.pdf")},
                       headers={"X-CSRFToken": token}, content_type="multipart/form-data")
    assert sent.status_code == 200, sent.get_data(as_text=True)
    with first.app_context():
        voucher = db.session.scalar(select(Voucher).where(Voucher.original_name == "合同.pdf"))
        voucher_id, stored_name = voucher.id, voucher.stored_name
    assert (shared / "vouchers" / stored_name).read_bytes() == PDF
    for instance in (first.instance_path, second.instance_path):
        assert not (Path(instance) / "vouchers").exists()
    served = logged_in_on(second, client).get(f"/records/{record_id}/vouchers/{voucher_id}")
    assert served.status_code == 200 and served.data == PDF


def test_a_sheet_drawn_by_one_app_is_downloaded_and_backed_up_through_the_other(two_apps, tree, login, tmp_path):
    first, second, shared = two_apps
    with first.app_context():
        record = file_record(db.session.get(Account, tree.gz_merchant.id), first.instance_path)
        reservation = make_reservation(tree)
        sheet = sheets.make_sheet(reservation, "submitted", db.session.get(Account, tree.budget_unit.id),
                                  instance_path=first.instance_path, base_url="http://portal.test")
        db.session.commit()
        sheet_id, sheet_name = sheet.id, sheet.stored_name
        voucher_name = record.vouchers[0].stored_name
    pdf = (shared / "sheets" / sheet_name).read_bytes()
    client = logged_in_on(second, login(first.test_client(), tree.budget_unit.phone))
    served = client.get(f"/reservations/sheets/{sheet_id}")
    assert served.status_code == 200 and served.data == pdf
    result = second.test_cli_runner().invoke(backup_command, ["--to", str(tmp_path / "backups")])
    assert result.exit_code == 0, result.output
    archive = result.stdout.strip().splitlines()[-1]
    with tarfile.open(archive, "r:gz") as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())
    listed = {entry["path"] for entry in manifest["files"]}
    assert {f"files/sheets/{sheet_name}", f"files/vouchers/{voucher_name}"} <= listed
    assert manifest["missing_files"] == []


@pytest.mark.parametrize("ending", ["rollback", "remove"])
def test_a_voucher_whose_transaction_does_not_commit_leaves_no_file(app, tree, ending):
    with app.app_context():
        merchant = db.session.get(Account, tree.gz_merchant.id)
        record = file_record(merchant, app.instance_path, submit=False)
        db.session.commit()
        kept = vouchers.voucher_store().path_of(record.vouchers[0].stored_name)
        voucher = vouchers.add_voucher(merchant, record, io.BytesIO(PNG + b"2"), "发票2.png",
                                       "invoice", max_bytes=1024 * 1024)
        path = vouchers.voucher_store().path_of(voucher.stored_name)
        assert path.is_file()
        getattr(db.session, ending)()
        assert not path.exists() and kept.is_file()


# -- two real servers and two workers -----------------------------------------------------------

def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Browser:
    """One browser's cookies for both servers: they answer at one address (127.0.0.1), as
    behind one nginx, so the session cookie goes to either."""

    def __init__(self):
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), _NoRedirect)

    def call(self, base, path, *, form=None, body=None, headers=None):
        headers = dict(headers or {})
        if form is not None:
            body = urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        request = urllib.request.Request(base + path, data=body, headers=headers)
        try:
            with self.opener.open(request, timeout=30) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def token(self, base, path):
        page = self.call(base, path)[1].decode()
        return (re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
                or re.search(r'"X-CSRFToken": "([^"]+)"', page)).group(1)


def _multipart(fields, name, filename, content, content_type):
    boundary = uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode()
             for key, value in fields.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                 f'Content-Type: {content_type}\r\n\r\n'.encode() + content + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def _wait(condition, what, seconds=20, processes=()):
    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value:
            return value
        for process in processes:
            assert process.poll() is None, f"{process.args} ended with {process.returncode} while waiting for {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _outbox(instance):
    path = Path(instance) / "sms_outbox.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


@pytest.fixture
def cluster_database(database_url):
    """A PostgreSQL database of this test's own (created, migrated by `flask init-db`, dropped)
    and a Redis database of its own (13, flushed); skipped unless both are there."""
    if not database_url.startswith("postgresql") or not os.environ.get("REDIS_URL"):
        pytest.skip("two app servers need PostgreSQL (TEST_DATABASE_URL) and Redis (REDIS_URL): SQLite is one "
                    "machine's file, and without Redis every process counts its own rate limits")
    import redis

    url = make_url(database_url).set(database=f"{make_url(database_url).database}_servers")
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{url.database}"'))
    redis_url = urlsplit(os.environ["REDIS_URL"])._replace(path="/13").geturl()
    store = redis.Redis.from_url(redis_url)
    store.flushdb()
    try:
        yield url.render_as_string(hide_password=False), redis_url
    finally:
        store.flushdb()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))
        admin.dispose()


def test_two_servers_share_files_rate_limits_and_jobs(cluster_database, tmp_path):
    database_url, redis_url = cluster_database
    gunicorn = Path(sys.executable).with_name("gunicorn")
    flask = Path(sys.executable).with_name("flask")
    shared = tmp_path / "shared-mount"
    shared.mkdir()
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url, "FILES_DIR": str(shared),
           "PORTAL_ENV": "development", "SECRET_KEY": "several-servers-" + "k" * 32, "LOGIN_CAPTCHA": "off",
           "SMS_BACKEND": "outbox", "SMS_SEND_IP_LIMIT": "4 per hour", "WEB_CONCURRENCY": "1",
           "TRUSTED_PROXIES": "0"}
    env.pop("TEST_DATABASE_URL", None)
    migrated = subprocess.run([flask, "--app", "app", "init-db"], cwd=ROOT, capture_output=True, text=True,
                              env={**env, "PORTAL_INSTANCE": str(tmp_path / "owner")}, timeout=60)
    assert migrated.returncode == 0, migrated.stderr[-2000:]

    seed = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "PORTAL_INSTANCE": str(tmp_path / "seed"),
                       "FILES_DIR": str(shared), "RATELIMIT_STORAGE_URI": "memory://", "TESTING": True})
    with seed.app_context():
        merchant = build_tree().gz_merchant
        record = file_record(merchant, seed.instance_path, submit=False)
        db.session.commit()
        phone, record_id = merchant.phone, record.id

    processes, logs, servers = {}, {}, {}
    try:
        for name in ("a", "b"):
            instance = tmp_path / f"server-{name}"
            port = _free_port()
            servers[name] = (f"http://127.0.0.1:{port}", instance)
            logs[name] = open(tmp_path / f"server-{name}.log", "wb")
            processes[f"web-{name}"] = subprocess.Popen(
                [gunicorn, "-c", "gunicorn.conf.py", "app:app"], cwd=ROOT, stdout=logs[name], stderr=subprocess.STDOUT,
                env={**env, "PORTAL_INSTANCE": str(instance), "BIND": f"127.0.0.1:{port}"})
            # a worker beside each server: its SMS go to its own instance folder's outbox
            processes[f"worker-{name}"] = subprocess.Popen(
                [flask, "--app", "app", "worker", "--poll", "0.2"], cwd=ROOT, stdout=logs[name],
                stderr=subprocess.STDOUT, env={**env, "PORTAL_INSTANCE": str(instance)})
        running = list(processes.values())
        (a, instance_a), (b, instance_b) = servers["a"], servers["b"]
        for base in (a, b):
            _wait(lambda base=base: _listening(base) and Browser().call(base, "/healthz")[0] == 200,
                  f"{base}/healthz", seconds=40, processes=running)

        # Log in through A (the code comes from whichever worker sent it), upload through A,
        # download through B: the same session, the same bytes.
        browser = Browser()
        token = browser.token(a, "/login")
        assert browser.call(a, "/login/code", form={"phone": phone, "csrf_token": token})[0] == 200
        code = _wait(lambda: _code(phone, instance_a, instance_b), "the login code", processes=running)
        status, _ = browser.call(a, "/login", form={"phone": phone, "code": code, "csrf_token": token})
        assert status == 302
        body, content_type = _multipart({"kind": "invoice"}, "file", "contract.pdf", PDF, "application/pdf")
        status, answer = browser.call(a, f"/records/{record_id}/vouchers", body=body, headers={
            "Content-Type": content_type, "X-CSRFToken": browser.token(a, "/"), "HX-Request": "true"})
        assert status == 200, answer.decode(errors="replace")[-500:]
        with seed.app_context():
            voucher = db.session.scalar(select(Voucher).where(Voucher.original_name == "contract.pdf"))
        assert (shared / "vouchers" / voucher.stored_name).is_file()
        assert not (instance_a / "vouchers").exists() and not (instance_b / "vouchers").exists()
        assert browser.call(b, f"/records/{record_id}/vouchers/{voucher.id}") == (200, PDF)

        # The send limit (4 an hour from one address) counts requests to both servers: the login's
        # code went through A; B, A and B take it to 4; the fifth is refused by either. Each server
        # alone has seen no more than 3.
        stranger = Browser()
        token = stranger.token(b, "/login")
        answers = [stranger.call(base, "/login/code", form={"phone": f"1370000{index:04d}", "csrf_token": token})
                   for index, base in enumerate((b, a, b, a, b))]
        assert [status for status, _ in answers] == [200, 200, 200, 429, 429]
        assert "操作过于频繁" in answers[-1][1].decode()

        # Jobs: many queued at once, both workers polling; each is done once, by one of them,
        # and its message is in that worker's outbox only.
        with seed.app_context():
            jobs = [notify(f"1360000{n:04d}", f"第{n}条通知", "notice") for n in range(40)]
            db.session.commit()
            ids = [job.id for job in jobs]

        def all_done():
            with seed.app_context():
                rows = db.session.scalars(select(Job).where(Job.id.in_(ids))).all()
                done = [(job.id, job.attempts, job.locked_by) for job in rows if job.status == DONE]
                db.session.rollback()
                return done if len(done) == len(ids) else None

        done = _wait(all_done, "the 40 jobs", processes=running)
        host = socket.gethostname()
        workers = {f"{host}:{processes[f'worker-{name}'].pid}"[:60]: servers[name][1] for name in ("a", "b")}
        assert {attempts for _, attempts, _ in done} == {1}
        assert {worker for _, _, worker in done} <= set(workers)
        sent = Counter()
        for worker, instance in workers.items():
            in_outbox = [int(row["id"].removeprefix("portal-job-")) for row in _outbox(instance)
                         if row["id"] and int(row["id"].removeprefix("portal-job-")) in ids]
            assert sorted(in_outbox) == sorted(job_id for job_id, _, by in done if by == worker)
            sent.update(in_outbox)
        assert sent == Counter({job_id: 1 for job_id in ids})
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=15)
        for handle in logs.values():
            handle.close()
        with seed.app_context():
            db.session.remove()
            db.engine.dispose()
        shutil.rmtree(shared, ignore_errors=True)


def _listening(base):
    port = int(base.rsplit(":", 1)[1])
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _code(phone, *instances):
    for instance in instances:
        for row in reversed(_outbox(instance)):
            match = re.search(r"验证码为(\d{6})", row["text"])
            if row["to"] == phone and match:
                return match.group(1)
    return None
