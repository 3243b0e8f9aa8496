"""Failure pages that need nothing, and a portal that answers 503 while its database is away and
serves again, without a restart, once it is back."""
import logging
import re
import shutil
import socket
import sqlite3
import threading
from pathlib import Path

import pytest
from flask import abort, request
from sqlalchemy import text
from sqlalchemy.engine import make_url

from portal.extensions import db
from tests.conftest import csrf_token
from tests.sql_helpers import statements

BUSY = "系统繁忙，请稍后再试"
CLOSED_PORT_URL = "postgresql+psycopg://postgres@127.0.0.1:1/nothing"


def text_of(response):
    return response.get_data(as_text=True)


def assert_busy(response, *, fragment=False):
    assert response.status_code == 503, text_of(response)[:300]
    assert BUSY in text_of(response)
    assert int(response.headers["Retry-After"]) > 0
    assert ("<html" in text_of(response)) is not fragment


# --- the pages themselves --------------------------------------------------------------------

@pytest.mark.parametrize("code, title", [
    (400, "请求无效"), (403, "无权访问"), (404, "页面不存在"), (405, "请求方式不正确"),
    (413, "文件过大"), (429, "操作过于频繁"), (500, "系统错误"), (503, "系统繁忙，请稍后再试"),
])
def test_an_error_page_for_a_logged_in_user_runs_no_query(app, client, tree, login, code, title):
    """The old pages extended base.html, whose menu loads the session and the account: a query
    per error page, and no page at all while the database is down."""
    @app.get("/test-abort/<int:code>")
    def fail(code):
        abort(code)

    login(client, tree.gz_office.phone)
    client.run_worker = False  # the page's own statements only
    with statements(app) as seen:
        page = client.get(f"/test-abort/{code}")
    assert page.status_code == code
    assert title in text_of(page) and "返回首页" in text_of(page)
    assert "退出" not in text_of(page)  # no menu, no account: nothing the page would have to load
    if code in (403, 404):
        # A refusal on an object is written to the audit trail (who asked, when, from where);
        # the page itself still reads nothing. The statements are the trail's, its actor's and
        # the session policy's.
        assert len(seen) > 0
        assert all(re.search(r"audit_event|audit_anchor|login_session|account|unit|security_setting|pg_advisory", sql)
                   for sql in seen), seen
        assert any("INSERT INTO audit_event" in sql for sql in seen)
    else:
        assert len(seen) == 0
    if code == 503:
        assert page.headers["Retry-After"]


def test_a_body_over_the_limit_answers_in_chinese(app, client):
    body = b"x" * (app.config["MAX_CONTENT_LENGTH"] + 1)
    page = client.post("/login", data=body, content_type="application/x-www-form-urlencoded")
    assert page.status_code == 413
    assert "文件过大" in text_of(page)
    assert f"上传的内容超过{app.config['VOUCHER_MAX_MB']} MB" in text_of(page)
    assert "Request Entity Too Large" not in text_of(page)

    fragment = client.post("/login", data=body, content_type="application/x-www-form-urlencoded",
                           headers={"HX-Request": "true"})
    assert fragment.status_code == 413 and "文件过大" in text_of(fragment)
    assert "<html" not in text_of(fragment)


def test_too_many_requests_answers_in_chinese(app_factory):
    client = app_factory(VERIFY_IP_LIMIT="1 per minute").test_client()
    answers = [client.get("/verify/NOSUCHCODE") for _ in range(2)]
    assert answers[-1].status_code == 429
    assert "操作过于频繁" in text_of(answers[-1]) and "请稍后再试" in text_of(answers[-1])
    assert answers[-1].headers["Retry-After"]


@pytest.fixture
def portal_logs(monkeypatch):
    """The portal's loggers as a server has them: the migrations' fileConfig, which the schema
    fixture ran in this process, disabled every logger that existed then."""
    for name in ("portal", "portal.blueprints.errors"):
        monkeypatch.setattr(logging.getLogger(name), "disabled", False)


def test_an_unexpected_error_is_logged_once_without_personal_data(app, client, caplog, portal_logs):
    """A crash answers the 500 page; the log has its traceback once, without the form's values
    or the SQL statement's parameters (the phone number here)."""
    app.config["PROPAGATE_EXCEPTIONS"] = False  # as in production: the app answers, not pytest
    phone = "13712345678"

    @app.post("/test-crash")
    def crash():
        db.session.execute(text("INSERT INTO account (phone) VALUES (:phone)"), {"phone": request.form["phone"]})

    with caplog.at_level(logging.INFO):
        page = client.post("/test-crash", data={"phone": phone, "name": "张三", "csrf_token": csrf_token(client)})
    assert page.status_code == 500
    assert "系统错误" in text_of(page)
    tracebacks = [record for record in caplog.records if record.exc_info]
    assert len(tracebacks) == 1, caplog.text
    assert "IntegrityError" in caplog.text and "Traceback" in caplog.text
    assert phone not in caplog.text and "张三" not in caplog.text


# --- a database that does not answer -----------------------------------------------------------

def test_a_portal_whose_database_does_not_answer_says_so_in_chinese(app_factory):
    client = app_factory(SQLALCHEMY_DATABASE_URI=CLOSED_PORT_URL).test_client()
    assert_busy(client.get("/login"))
    assert_busy(client.get("/"))
    assert_busy(client.get("/login", headers={"HX-Request": "true"}), fragment=True)
    health = client.get("/healthz")
    assert health.status_code == 503 and health.json["status"] == "error"
    assert health.headers["Retry-After"]
    stylesheet = client.get("/static/portal.css")  # the 503 page keeps its looks
    assert stylesheet.status_code == 200
    stylesheet.close()
    assert client.get("/no/such/page").status_code == 404


class PostgresOutage:
    """A TCP proxy in front of PostgreSQL that can be closed (connections cut, new ones refused)
    and opened again on the same port, as a database restart looks to the portal."""

    def __init__(self, url):
        parsed = make_url(url)
        self.target = (parsed.host or "127.0.0.1", parsed.port or 5432)
        self.port = _free_port()
        self.url = parsed.set(host="127.0.0.1", port=self.port).render_as_string(hide_password=False)
        self.sockets = []
        self.listener = None
        self.lock = threading.Lock()
        self.end()

    def end(self):
        """Accept connections again."""
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", self.port))
        self.listener.listen()
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()

    def begin(self):
        """Refuse new connections and cut the open ones."""
        _close(self.listener)  # shutdown first: a bare close leaves the port open to the blocked accept()
        with self.lock:
            for sock in self.sockets:
                _close(sock)
            self.sockets.clear()

    def _accept(self, listener):
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            with self.lock:
                self.sockets += [client, server]
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source, sink):
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        _close(source)
        _close(sink)

    def close(self):
        self.begin()


class SqliteOutage:
    """The database file's folder moved away and the open connections dropped, then put back."""

    def __init__(self, url, folder):
        source = make_url(url).database
        self.folder = Path(folder) / "live"
        self.away = Path(folder) / "away"
        self.folder.mkdir()
        with sqlite3.connect(source) as original, sqlite3.connect(self.folder / "portal.sqlite3") as copy:
            original.backup(copy)
        self.url = f"sqlite:///{self.folder / 'portal.sqlite3'}"
        self.app = None

    def begin(self):
        self.folder.rename(self.away)
        with self.app.app_context():
            db.engine.dispose()

    def end(self):
        self.away.rename(self.folder)

    def close(self):
        if self.away.exists():
            self.end()
        shutil.rmtree(self.folder, ignore_errors=True)


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _close(sock):
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


@pytest.fixture
def outage(database_url, tmp_path):
    made = PostgresOutage(database_url) if database_url.startswith("postgresql") else SqliteOutage(
        database_url, tmp_path)
    yield made
    made.close()


def test_a_logged_in_user_sees_503_while_the_database_is_away_and_the_portal_recovers(
        app, app_factory, tree, login, outage, caplog, portal_logs):
    portal = app_factory(SQLALCHEMY_DATABASE_URI=outage.url)
    outage.app = portal
    client = portal.test_client()
    login(client, tree.gz_office.phone)
    assert "广州协作办" in text_of(client.get("/"))

    outage.begin()
    with caplog.at_level(logging.WARNING):
        # The account is loaded for the menu: the user loader is the first to meet the outage.
        assert_busy(client.get("/"))
        assert_busy(client.get("/reviews/", headers={"HX-Request": "true"}), fragment=True)
        assert_busy(client.get("/login"))
        assert client.get("/healthz").status_code == 503
    assert not [record for record in caplog.records if record.exc_info], caplog.text
    assert len([r for r in caplog.records if "database unavailable" in r.getMessage()]) == 1

    outage.end()
    home = client.get("/")
    assert home.status_code == 200, text_of(home)[:300]
    assert "广州协作办" in text_of(home)  # the same login session, no process restart
    assert client.get("/healthz").json == {"status": "ok"}
