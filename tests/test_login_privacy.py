"""Whether a number has an account is nobody's business but its owner's: code requests, wrong
codes and registration answer byte for byte the same for a registered number and an unknown one
(but for the CSRF token and the number as typed), after the same database work, and the SMS
gateway is called only once the answer has gone out.

Numbers: 13700001001 (the Guangzhou office) and 13712341001 (no account) both mask to
137****1001, so even the masked number in an answer is the same.
"""
import json
import re

import pytest
from sqlalchemy import select, update

from portal.accounts.models import Account
from portal.extensions import db
from portal.jobs import work_off
from portal.jobs.models import Job
from tests.conftest import csrf_token
from tests.sql_helpers import statements
from tests.test_sms import gateway

KNOWN = "13700001001"
UNKNOWN = "13712341001"
GZ_MARKET = "13700001011"
UNKNOWN_MARKET_MASK = "13755551011"
#: what an answer's headers may show a stranger; the session cookie and the per-IP rate-limit
#: counters differ between any two requests
SHOWN_HEADERS = ("Content-Type", "HX-Trigger", "Cache-Control", "Vary", "Location")


class Texts:
    def __call__(self):
        return "K7PX"


@pytest.fixture
def on(app_factory, app, tree):
    return app_factory(LOGIN_CAPTCHA="on", CAPTCHA_TEXT_FACTORY=Texts())


def answer(response, *typed):
    """What a stranger sees of a response, with the CSRF token and the numbers typed blanked."""
    body = response.get_data(as_text=True)
    body = re.sub(r'(name="csrf_token" type="hidden" value=")[^"]+', r"\1TOKEN", body)
    body = re.sub(r'("X-CSRFToken": ")[^"]+', r"\1TOKEN", body)
    for phone in typed:
        body = body.replace(phone, "NUMBER")
    return response.status_code, {name: response.headers.get(name) for name in SHOWN_HEADERS}, body


def request_code(app, phone, path="/login/code"):
    """A stranger's request for a code, through the captcha, in a browser of its own."""
    client = app.test_client()
    client.run_worker = False  # the request alone: its answer and its SQL, not the worker's
    token = csrf_token(client, "/login" if path.startswith("/login") else "/register")
    client.get("/captcha")
    with statements(app) as sql:
        response = client.post(path, data={"phone": phone, "captcha": "K7PX", "csrf_token": token},
                               headers={"HX-Request": "true"})
    return response, sql


def post_login(app, phone, code):
    client = app.test_client()
    token = csrf_token(client)
    with statements(app) as sql:
        response = client.post("/login", data={"phone": phone, "code": code, "csrf_token": token})
    return response, sql


# --- code requests -----------------------------------------------------------------------------------

def test_login_code_answer_is_identical_for_a_registered_and_an_unknown_number(on, outbox):
    known, known_sql = request_code(on, KNOWN)
    unknown, unknown_sql = request_code(on, UNKNOWN)
    assert known.status_code == 200
    assert answer(known) == answer(unknown)
    assert "如该手机号已开通账号，验证码已发送至 137****1001" in known.get_data(as_text=True)
    assert known_sql == unknown_sql  # the same work: the same statements, in the same order
    assert outbox.last_code(KNOWN) and outbox.messages(UNKNOWN) == []


def test_a_disabled_account_answers_like_an_unknown_number(on, outbox):
    with on.app_context():
        db.session.execute(update(Account).where(Account.with_phone(GZ_MARKET)).values(active=False))
        db.session.commit()
    disabled, disabled_sql = request_code(on, GZ_MARKET)
    unknown, unknown_sql = request_code(on, UNKNOWN_MARKET_MASK)
    assert answer(disabled) == answer(unknown)
    assert disabled_sql == unknown_sql
    assert outbox.messages(GZ_MARKET) == []


def test_register_code_answer_is_identical_and_the_owner_is_told_by_sms(on, outbox):
    """The issue's finding: /register/code answered 422 "该手机号已开通账号" for a known number."""
    known, known_sql = request_code(on, KNOWN, "/register/code")
    unknown, unknown_sql = request_code(on, UNKNOWN, "/register/code")
    assert known.status_code == 200
    assert answer(known) == answer(unknown)
    assert known_sql == unknown_sql
    [notice] = outbox.messages(KNOWN)
    assert "该手机号已开通账号，无需重复注册" in notice["text"] and outbox.last_code(KNOWN, wait=0) is None
    assert outbox.last_code(UNKNOWN)


def test_refusals_by_the_limits_are_identical_too(on, outbox):
    request_code(on, KNOWN)
    request_code(on, UNKNOWN)
    known, _ = request_code(on, KNOWN)
    unknown, _ = request_code(on, UNKNOWN)
    assert known.status_code == 422
    assert answer(known) == answer(unknown)
    assert "1分钟" in known.get_data(as_text=True)


# --- wrong codes at login --------------------------------------------------------------------------------

def test_a_wrong_code_reads_the_same_for_a_registered_and_an_unknown_number(on, outbox):
    request_code(on, KNOWN)
    request_code(on, UNKNOWN)
    wrong = "000000" if outbox.last_code(KNOWN) != "000000" else "111111"
    known, known_sql = post_login(on, KNOWN, wrong)
    unknown, unknown_sql = post_login(on, UNKNOWN, wrong)
    assert known.status_code == 422
    assert answer(known, KNOWN) == answer(unknown, UNKNOWN)
    assert "验证码错误，还可尝试4次" in known.get_data(as_text=True)
    assert known_sql == unknown_sql


@pytest.mark.parametrize("typed", ["123456", "", "12", "１２３４５６"])
def test_a_number_that_logged_in_before_reads_like_one_that_never_did(on, outbox, typed):
    """The issue's finding: POST /login said "验证码已使用" for a number that had logged in."""
    client = on.test_client()
    request_code(on, KNOWN)
    assert client.post("/login", data={"phone": KNOWN, "code": outbox.last_code(KNOWN),
                                       "csrf_token": csrf_token(client)}).status_code == 302
    known, known_sql = post_login(on, KNOWN, typed)
    unknown, unknown_sql = post_login(on, UNKNOWN, typed)
    assert known.status_code == 422
    assert answer(known, KNOWN) == answer(unknown, UNKNOWN)
    assert known_sql == unknown_sql
    assert "已使用" not in known.get_data(as_text=True)


def test_registration_with_a_registered_number_reads_like_a_wrong_code(on, outbox):
    request_code(on, KNOWN, "/register/code")
    request_code(on, UNKNOWN, "/register/code")
    pages = []
    for phone in (KNOWN, UNKNOWN):
        client = on.test_client()
        response = client.post("/register", data={
            "name": "某某贸易有限公司", "credit_code": "91110000600037341L", "city_code": "440100",
            "contact_name": "陈经理", "phone": phone, "code": "000000", "csrf_token": csrf_token(client, "/register")})
        pages.append(answer(response, phone))
    assert pages[0] == pages[1]
    assert pages[0][0] == 422 and "已开通账号" not in pages[0][2]


# --- the gateway is called by the worker, never within the answer ---------------------------------

def test_the_gateway_is_called_by_the_worker_not_by_the_request(app_factory, app, tree):
    with gateway(200) as (url, received):
        http = app_factory(SMS_BACKEND="http", SMS_HTTP_URL=url, CAPTCHA_TEXT_FACTORY=Texts())
        known, _ = request_code(http, KNOWN)
        unknown, _ = request_code(http, UNKNOWN)
        assert answer(known) == answer(unknown)
        assert received == []  # the answers are complete, nobody has called the gateway
        with http.app_context():
            # Both requests queued a message job; the worker sends only the one due.
            assert [job.summary for job in db.session.scalars(select(Job).order_by(Job.id))] == [
                "短信（login_code）至 137****1001", "短信（login_code）至 137****1001"]
            assert work_off() == 2
    [sent] = received
    body = json.loads(sent["body"].decode("utf-8"))
    assert body["phone"] == KNOWN and "登录验证码为" in body["text"]


def test_a_gateway_that_is_down_does_not_change_the_answer(app_factory, app, tree):
    with gateway(200) as (url, _):
        pass  # the port is closed again: nothing answers there
    http = app_factory(SMS_BACKEND="http", SMS_HTTP_URL=url, CAPTCHA_TEXT_FACTORY=Texts())
    known, _ = request_code(http, KNOWN)
    unknown, _ = request_code(http, UNKNOWN)
    assert known.status_code == 200
    assert answer(known) == answer(unknown)
    with http.app_context():
        work_off()
        waiting = db.session.scalars(select(Job).where(Job.status == "queued")).one()
        # The code waits for the gateway (until it expires), and no error holds the number.
        assert waiting.summary == "短信（login_code）至 137****1001" and "短信网关发送失败" in waiting.last_error
        assert KNOWN not in waiting.last_error
