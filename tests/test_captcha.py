"""The graphic captcha (图形验证码) before an SMS code is sent: refused without it or with a wrong
answer, accepted with the right one, used once, short-lived, never readable from the cookie, and
not to be switched off in production.

Tests know the captcha's text as a person reads it off the image: CAPTCHA_TEXT_FACTORY is the
seam that chooses the text the image shows.
"""
import json
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal.accounts import captcha
from portal.accounts.models import SmsCode
from portal.config import ConfigurationError, load_settings
from portal.extensions import db
from tests.conftest import csrf_token

GZ_OFFICE = "13700001001"
NEW_PHONE = "13800138000"
WRONG = "图形验证码错误，请重新输入"
COOKIE = "portal_session"


class Texts:
    """The captcha texts the app will draw, one per image, in order."""

    def __init__(self, *texts):
        self.queue = list(texts)

    def __call__(self):
        return self.queue.pop(0) if self.queue else "XXXX"


@pytest.fixture
def texts():
    return Texts("K7PX", "M3RT", "A9CD", "W4HN", "E6FJ")


@pytest.fixture
def on(app_factory, app, tree, texts):
    """The app with the captcha on (the other tests run with it off)."""
    return app_factory(LOGIN_CAPTCHA="on", CAPTCHA_TEXT_FACTORY=texts)


def text_of(response):
    return response.get_data(as_text=True)


def show_captcha(client):
    """Load the captcha image as the login page does; returns the response."""
    response = client.get("/captcha")
    assert response.status_code == 200
    return response


def send(client, phone, answer=None, path="/login/code"):
    data = {"phone": phone, "csrf_token": csrf_token(client, "/login" if path.startswith("/login") else "/register")}
    if answer is not None:
        data["captcha"] = answer
    return client.post(path, data=data, headers={"HX-Request": "true"})


def codes_sent(app):
    with app.app_context():
        return db.session.scalar(select(func.count(SmsCode.id)))


def captcha_message(response):
    match = re.search(r'<div id="captcha-error"[^>]*hx-swap-oob="true"[^>]*>([^<]*)</div>', text_of(response))
    assert match, text_of(response)
    return match.group(1)


def refreshes(response):
    return json.loads(response.headers.get("HX-Trigger", "{}")).get("captchaRefresh")


# --- the page and the image ------------------------------------------------------------------

def test_login_and_register_pages_ask_for_the_captcha(on):
    client = on.test_client()
    for path, send_path in (("/login", "/login/code"), ("/register", "/register/code")):
        page = text_of(client.get(path))
        assert re.search(r'<input[^>]*name="captcha"', page)
        assert 'id="captcha-image" src="/captcha"' in page
        assert "换一张" in page and "data-captcha-refresh" in page
        assert f'hx-post="{send_path}" hx-include="[name=phone],[name=captcha]"' in page
        assert "<script>" not in page and "onclick" not in page


def test_captcha_is_a_png_no_cache_keeps(on):
    response = show_captcha(on.test_client())
    assert response.headers["Content-Type"] == "image/png"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.data.startswith(b"\x89PNG\r\n\x1a\n")


def test_the_cookie_holds_no_answer(on):
    """The session cookie is signed, not encrypted: anyone can read it."""
    client = on.test_client()
    show_captcha(client)
    cookie = client.get_cookie(COOKIE).value
    stored = on.session_interface.get_signing_serializer(on).loads(cookie)
    assert set(stored["captcha"]) == {"n", "t", "h"}
    assert "K7PX" not in json.dumps(stored).upper()


def test_generated_texts_avoid_look_alikes():
    for _ in range(300):
        text = captcha.random_text()
        assert len(text) == captcha.LENGTH
        assert not set(text) & set("0O1IL")
        assert set(text) <= set(captcha.ALPHABET)


# --- sending needs the captcha -------------------------------------------------------------------

@pytest.mark.parametrize("answer", [None, "", "XXXX", "K7P", "K7PXX", "x" * 10_000])
def test_code_refused_without_the_right_captcha(on, outbox, answer):
    client = on.test_client()
    show_captcha(client)
    response = send(client, GZ_OFFICE, answer)
    assert response.status_code == 422
    assert captcha_message(response) == WRONG
    assert 'data-code-sent="no"' in text_of(response)
    assert refreshes(response) == {"focus": True}  # a new image, and the answer field again
    assert outbox.messages() == [] and codes_sent(on) == 0


def test_code_refused_before_any_captcha_was_shown(on, outbox):
    response = send(on.test_client(), GZ_OFFICE, "K7PX")
    assert response.status_code == 422 and captcha_message(response) == WRONG
    assert outbox.messages() == []


@pytest.mark.parametrize("answer", ["K7PX", "k7px", " k7 px ", "ｋ７ｐｘ"])
def test_code_sent_with_the_right_captcha(on, outbox, answer):
    client = on.test_client()
    show_captcha(client)
    response = send(client, GZ_OFFICE, answer)
    assert response.status_code == 200, text_of(response)
    assert captcha_message(response) == ""
    assert refreshes(response) == {"focus": False}  # used up: the next request needs a new image
    assert outbox.last_code(GZ_OFFICE)


def test_registration_code_needs_the_captcha_too(on, outbox):
    client = on.test_client()
    show_captcha(client)
    assert send(client, NEW_PHONE, "WRONG", path="/register/code").status_code == 422
    show_captcha(client)
    assert send(client, NEW_PHONE, "M3RT", path="/register/code").status_code == 200
    assert outbox.last_code(NEW_PHONE)


def test_a_malformed_number_does_not_use_the_captcha_up(on, outbox):
    client = on.test_client()
    show_captcha(client)
    bad = send(client, "1380013", "K7PX")
    assert bad.status_code == 422 and "手机号码格式不正确" in text_of(bad)
    assert send(client, GZ_OFFICE, "K7PX").status_code == 200


def test_login_with_the_code_after_the_captcha(on, outbox):
    client = on.test_client()
    show_captcha(client)
    assert send(client, GZ_OFFICE, "K7PX").status_code == 200
    token = csrf_token(client)
    response = client.post("/login", data={"phone": GZ_OFFICE, "code": outbox.last_code(GZ_OFFICE),
                                           "csrf_token": token})
    assert response.status_code == 302
    assert "广州协作办" in text_of(client.get("/"))


# --- single use, short life ------------------------------------------------------------------------

def test_a_captcha_answers_once(app_factory, on, outbox):
    relaxed = app_factory(LOGIN_CAPTCHA="on", CAPTCHA_TEXT_FACTORY=Texts("K7PX"), SMS_LIMIT_PER_MINUTE=10)
    client = relaxed.test_client()
    show_captcha(client)
    assert send(client, GZ_OFFICE, "K7PX").status_code == 200
    again = send(client, "13700001002", "K7PX")
    assert again.status_code == 422 and captcha_message(again) == WRONG


def test_a_wrong_answer_uses_the_captcha_up(on, outbox):
    client = on.test_client()
    show_captcha(client)
    assert send(client, GZ_OFFICE, "XXXX").status_code == 422
    late = send(client, GZ_OFFICE, "K7PX")
    assert late.status_code == 422 and captcha_message(late) == WRONG
    assert outbox.messages() == []


def test_a_copied_cookie_cannot_replay_a_captcha(app_factory, on, outbox):
    """The session travels in the cookie, so the used-up state is kept on the server."""
    relaxed = app_factory(LOGIN_CAPTCHA="on", CAPTCHA_TEXT_FACTORY=Texts("K7PX"), SMS_LIMIT_PER_MINUTE=10)
    client = relaxed.test_client()
    show_captcha(client)
    saved = client.get_cookie(COOKIE).value
    assert send(client, GZ_OFFICE, "K7PX").status_code == 200
    client.set_cookie(COOKIE, saved)
    replay = send(client, "13700001002", "K7PX")
    assert replay.status_code == 422 and captcha_message(replay) == WRONG
    assert outbox.messages("13700001002") == []


def test_a_captcha_lives_five_minutes(on, outbox, monkeypatch):
    from portal.blueprints import auth
    from portal.clock import utcnow

    client = on.test_client()
    show_captcha(client)
    shown = utcnow()
    monkeypatch.setattr(auth, "utcnow", lambda: shown + timedelta(minutes=5, seconds=1))
    late = send(client, GZ_OFFICE, "K7PX")
    assert late.status_code == 422 and captcha_message(late) == WRONG
    assert outbox.messages() == []


def test_expiry_boundary(ctx):
    from datetime import datetime

    issued_at = datetime(2024, 3, 4, 9, 0, 0)
    key = "k" * 40
    just_in = captcha.issue(key, "K7PX", issued_at)
    assert captcha.check(key, just_in, "K7PX", issued_at + timedelta(minutes=4, seconds=59))
    just_out = captcha.issue(key, "K7PX", issued_at)
    assert not captcha.check(key, just_out, "K7PX", issued_at + timedelta(minutes=5))
    db.session.rollback()


@pytest.mark.parametrize("planted", [{"n": 5}, {"n": "x" * 32, "t": "soon", "h": "y"}, "K7PX", ["n"], None])
def test_a_planted_session_value_is_refused_not_a_crash(on, outbox, planted):
    client = on.test_client()
    show_captcha(client)
    with client.session_transaction() as sess:
        sess["captcha"] = planted
    response = send(client, GZ_OFFICE, "K7PX")
    assert response.status_code == 422 and captcha_message(response) == WRONG


def test_the_answer_is_keyed_by_the_secret(ctx):
    from datetime import datetime

    now = datetime(2024, 3, 4, 9, 0, 0)
    record = captcha.issue("a" * 40, "K7PX", now)
    assert not captcha.check("b" * 40, record, "K7PX", now)
    db.session.rollback()


# --- the setting -------------------------------------------------------------------------------------

@pytest.fixture
def env(monkeypatch, tmp_path):
    for name in ("PORTAL_ENV", "SECRET_KEY", "DATABASE_URL", "SMS_BACKEND", "LOGIN_CAPTCHA"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PORTAL_INSTANCE", str(tmp_path / "instance"))
    return monkeypatch


def test_captcha_is_on_by_default(env):
    assert load_settings()["LOGIN_CAPTCHA"] == "on"


def test_production_refuses_captcha_off(env):
    env.setenv("PORTAL_ENV", "production")
    env.setenv("SECRET_KEY", "s" * 40)
    env.setenv("DATA_KEYS", "prod1:" + "5a" * 16)  # production's own SM4 keys
    env.setenv("AUDIT_HMAC_KEY", "a" * 32)  # and its own audit-chain key
    env.setenv("SMS_BACKEND", "http")  # a real gateway, its https address, one worker without Redis
    env.setenv("SMS_HTTP_URL", "https://sms.example/send")
    env.setenv("PUBLIC_BASE_URL", "https://portal.example.gov.cn")
    env.setenv("WEB_CONCURRENCY", "1")
    assert load_settings()["LOGIN_CAPTCHA"] == "on"
    env.setenv("LOGIN_CAPTCHA", "off")
    with pytest.raises(ConfigurationError, match="LOGIN_CAPTCHA"):
        load_settings()
    env.delenv("LOGIN_CAPTCHA")
    with pytest.raises(ConfigurationError, match="LOGIN_CAPTCHA"):
        load_settings({"LOGIN_CAPTCHA": "off"})


def test_off_is_allowed_for_local_scripts_and_lets_codes_go_without_it(env, app, tree, outbox):
    env.setenv("LOGIN_CAPTCHA", "OFF")
    assert load_settings()["LOGIN_CAPTCHA"] == "off"
    client = app.test_client()  # the test app runs with LOGIN_CAPTCHA=off
    assert 'name="captcha"' not in text_of(client.get("/login"))
    assert send(client, GZ_OFFICE).status_code == 200


@pytest.mark.parametrize("value", ["maybe", "false", "0", ""])
def test_unknown_values_are_refused(env, value):
    env.setenv("LOGIN_CAPTCHA", value)
    with pytest.raises(ConfigurationError, match="LOGIN_CAPTCHA"):
        load_settings()
