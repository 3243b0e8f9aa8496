"""Login by SMS code, sessions, logout, idle timeout and enterprise self-registration, over HTTP.

Each test asserts what a person at the browser notices: the status, the Chinese message beside
the field, the values kept in the form, where a redirect goes.
"""
import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select, update

from portal.accounts.models import Account, LoginSession, SmsCode, Unit
from portal.clock import utcnow
from portal.audit import AuditEvent
from portal.extensions import db
from portal.accounts.codes import CODE_GONE
from tests.conftest import csrf_token
from tests.factories import credit_code

GZ_OFFICE = "13700001001"
GZ_MARKET = "13700001011"
#: an unregistered number whose masked form (137****1001) equals GZ_OFFICE's
UNKNOWN_SAME_MASK = "13712341001"
UNKNOWN = "13912345678"
COOKIE = "portal_session"
MANY = {"SMS_LIMIT_PER_MINUTE": 100, "SMS_LIMIT_PER_HOUR": 100, "SMS_LIMIT_PER_DAY": 100}


# --- helpers -----------------------------------------------------------------------------------

def text_of(response):
    return response.get_data(as_text=True)


def input_names(page):
    return set(re.findall(r'<(?:input|select)\b[^>]*\bname="([^"]+)"', page))


def input_value(page, name):
    match = re.search(rf'<input\b[^>]*\bname="{name}"[^>]*>', page)
    assert match, f"no input {name}"
    value = re.search(r'\bvalue="([^"]*)"', match.group(0))
    return value.group(1) if value else ""


def selected_option(page, name):
    match = re.search(rf'<select\b[^>]*\bname="{name}"[^>]*>(.*?)</select>', page, re.S)
    assert match, f"no select {name}"
    for option in re.findall(r"<option\b[^>]*>", match.group(1)):
        if re.search(r"\bselected\b", option):
            return re.search(r'value="([^"]*)"', option).group(1)
    return None


def errors_near(page, name):
    """The messages shown right after the control named `name` (before the next control)."""
    match = re.search(rf'<(?:input|select)\b[^>]*\bname="{name}"', page)
    assert match, f"no control {name}"
    rest = page[match.end():]
    stop = re.search(r"<(?:input|select)\b|</form>|</tr>", rest)
    chunk = rest[:stop.start()] if stop else rest
    return [m.strip() for m in re.findall(r'class="invalid-feedback[^"]*"[^>]*>([^<]*)<', chunk)]


def is_login_redirect(response):
    return response.status_code == 302 and urlsplit(response.headers["Location"]).path == "/login"


def send_code(client, phone, path="/login/code", token=None):
    token = token or csrf_token(client, "/login" if path.startswith("/login") else "/register")
    return client.post(path, data={"phone": phone, "csrf_token": token})


def post_login(client, phone, code, **extra):
    token = csrf_token(client)
    return client.post("/login", data={"phone": phone, "code": code, "csrf_token": token, **extra})


def page_token(client, path="/"):
    return csrf_token(client, path)


def logout(client):
    return client.post("/logout", data={"csrf_token": page_token(client)})


def account_id(app, phone):
    with app.app_context():
        return db.session.scalar(select(Account.id).where(Account.with_phone(phone)))


def generous(app_factory, **more):
    """A second app on the same database (already wiped by the `app` fixture) with generous SMS limits."""
    return app_factory(**MANY, **more)


# --- health ------------------------------------------------------------------------------------

def test_healthz_answers_ok_without_login(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.is_json
    assert response.get_json() == {"status": "ok"}


# --- login page and code sending ---------------------------------------------------------------

def test_login_page_has_phone_code_and_csrf_fields(client):
    response = client.get("/login")
    assert response.status_code == 200
    page = text_of(response)
    assert {"phone", "code", "csrf_token"} <= input_names(page)
    assert "账号登录" in page
    assert "获取验证码" in page


def test_code_answer_is_the_same_for_registered_and_unknown_numbers(client, tree, outbox):
    known = send_code(client, GZ_OFFICE)
    unknown = send_code(client, UNKNOWN_SAME_MASK)
    assert known.status_code == unknown.status_code == 200
    assert text_of(known) == text_of(unknown)
    assert "验证码已发送至 137****1001" in text_of(known)
    assert len(outbox.messages(GZ_OFFICE)) == 1
    assert outbox.last_code(GZ_OFFICE)
    assert outbox.messages(UNKNOWN_SAME_MASK) == []


def test_disabled_account_gets_the_same_answer_and_no_message(app, client, tree, outbox):
    with app.app_context():
        db.session.execute(update(Account).where(Account.with_phone(GZ_MARKET)).values(active=False))
        db.session.commit()
    disabled = send_code(client, GZ_MARKET)
    known = send_code(client, "13700001021")
    assert disabled.status_code == known.status_code == 200
    assert text_of(disabled).replace("1011", "1021") == text_of(known)
    assert outbox.messages(GZ_MARKET) == []


@pytest.mark.parametrize("phone", ["12345", "1370000100", "23700001001", "abcdefghijk", ""])
def test_malformed_phone_is_refused_with_a_message(client, tree, outbox, phone):
    response = send_code(client, phone)
    assert response.status_code == 422
    assert "手机号码格式不正确" in text_of(response)
    assert outbox.messages() == []


def test_second_code_within_a_minute_is_refused(client, tree, outbox):
    first = send_code(client, GZ_OFFICE)
    assert first.status_code == 200
    second = send_code(client, GZ_OFFICE)
    assert second.status_code == 422
    assert "验证码已发送，请1分钟后再重新获取" in text_of(second)
    assert len(outbox.messages(GZ_OFFICE)) == 1
    # the same refusal for a number without an account
    assert send_code(client, UNKNOWN).status_code == 200
    again = send_code(client, UNKNOWN)
    assert again.status_code == 422
    assert "验证码已发送，请1分钟后再重新获取" in text_of(again)


def test_code_post_without_csrf_token_is_refused(client, tree, outbox):
    client.get("/login")
    response = client.post("/login/code", data={"phone": GZ_OFFICE})
    assert response.status_code == 400
    assert outbox.messages() == []


def test_login_post_without_csrf_token_is_refused(client, tree, outbox):
    assert send_code(client, GZ_OFFICE).status_code == 200
    response = client.post("/login", data={"phone": GZ_OFFICE, "code": outbox.last_code(GZ_OFFICE)})
    assert response.status_code == 400
    assert is_login_redirect(client.get("/"))


def test_login_post_with_a_forged_csrf_token_is_refused(client, tree, outbox):
    assert send_code(client, GZ_OFFICE).status_code == 200
    response = client.post("/login", data={"phone": GZ_OFFICE, "code": outbox.last_code(GZ_OFFICE),
                                           "csrf_token": "forged"})
    assert response.status_code == 400


# --- login ---------------------------------------------------------------------------------------

def test_wrong_code_is_refused_beside_the_code_field_and_phone_kept(client, tree, outbox):
    assert send_code(client, GZ_OFFICE).status_code == 200
    right = outbox.last_code(GZ_OFFICE)
    wrong = "000000" if right != "000000" else "111111"
    response = post_login(client, GZ_OFFICE, wrong)
    assert response.status_code == 422
    page = text_of(response)
    assert any("验证码错误" in message for message in errors_near(page, "code"))
    assert "还可尝试4次" in page
    assert input_value(page, "phone") == GZ_OFFICE
    assert is_login_redirect(client.get("/"))
    # the right code still works afterwards
    assert post_login(client, GZ_OFFICE, right).status_code == 302
    assert client.get("/").status_code == 200


def test_wrong_code_for_unknown_number_reads_like_a_known_one(client, tree, outbox):
    send_code(client, GZ_OFFICE)
    send_code(client, UNKNOWN_SAME_MASK)
    known = post_login(client, GZ_OFFICE, "000000" if outbox.last_code(GZ_OFFICE) != "000000" else "111111")
    unknown = post_login(client, UNKNOWN_SAME_MASK, "000000")
    assert known.status_code == unknown.status_code == 422
    assert errors_near(text_of(known), "code") == errors_near(text_of(unknown), "code")


def test_five_wrong_codes_void_the_code(client, tree, outbox):
    send_code(client, GZ_OFFICE)
    right = outbox.last_code(GZ_OFFICE)
    wrong = "000000" if right != "000000" else "111111"
    for _ in range(4):
        assert post_login(client, GZ_OFFICE, wrong).status_code == 422
    fifth = post_login(client, GZ_OFFICE, wrong)
    assert fifth.status_code == 422
    assert "验证码错误次数过多" in " ".join(errors_near(text_of(fifth), "code"))
    late = post_login(client, GZ_OFFICE, right)
    assert late.status_code == 422
    assert "验证码错误次数过多" in " ".join(errors_near(text_of(late), "code"))


def test_empty_code_and_code_never_sent(client, tree):
    empty = post_login(client, GZ_OFFICE, "")
    assert empty.status_code == 422
    assert errors_near(text_of(empty), "code") == ["请输入短信验证码"]
    never = post_login(client, GZ_OFFICE, "123456")
    assert never.status_code == 422
    assert errors_near(text_of(never), "code") == [CODE_GONE]


def test_malformed_phone_at_login_is_refused_beside_the_phone(client, tree):
    response = post_login(client, "1370000", "123456")
    assert response.status_code == 422
    page = text_of(response)
    assert any("手机号码格式不正确" in m for m in errors_near(page, "phone"))
    assert input_value(page, "phone") == "1370000"


def test_expired_code_is_refused(app, client, tree, outbox):
    send_code(client, GZ_OFFICE)
    code = outbox.last_code(GZ_OFFICE)
    with app.app_context():
        db.session.execute(update(SmsCode).where(SmsCode.with_phone(GZ_OFFICE))
                           .values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    response = post_login(client, GZ_OFFICE, code)
    assert response.status_code == 422
    assert errors_near(text_of(response), "code") == [CODE_GONE]
    assert input_value(text_of(response), "phone") == GZ_OFFICE
    assert is_login_redirect(client.get("/"))


def test_used_code_cannot_log_in_again(app, client, tree, outbox, login):
    login(client, GZ_OFFICE)
    code = outbox.last_code(GZ_OFFICE)
    assert logout(client).status_code == 302
    replay = post_login(client, GZ_OFFICE, code)
    assert replay.status_code == 422
    # the same words as for a number that never logged in (tests/test_login_privacy.py)
    assert errors_near(text_of(replay), "code") == [CODE_GONE]
    assert is_login_redirect(client.get("/"))
    # ... not even from another browser
    other = app.test_client()
    assert post_login(other, GZ_OFFICE, code).status_code == 422


def test_a_newer_code_voids_the_older_one(app_factory, app, tree, outbox):
    client = generous(app_factory).test_client()
    send_code(client, GZ_OFFICE)
    old = outbox.last_code(GZ_OFFICE)
    send_code(client, GZ_OFFICE)
    new = outbox.last_code(GZ_OFFICE)
    if old != new:
        assert post_login(client, GZ_OFFICE, old).status_code == 422
    assert post_login(client, GZ_OFFICE, new).status_code == 302


def test_disabled_account_cannot_log_in_with_a_code_sent_before(app, tree, outbox, login):
    market = app.test_client()
    send_code(market, GZ_MARKET)
    code = outbox.last_code(GZ_MARKET)
    admin = login(app.test_client(), GZ_OFFICE)
    disabled = admin.post(f"/accounts/{account_id(app, GZ_MARKET)}/disable",
                          data={"csrf_token": page_token(admin)})
    assert disabled.status_code == 302
    response = post_login(market, GZ_MARKET, code)
    assert response.status_code == 422
    assert errors_near(text_of(response), "phone") == ["该账号已停用，请联系开通账号的单位"]
    assert is_login_redirect(market.get("/"))


def test_success_redirects_home_and_shows_the_unit(client, tree, outbox):
    send_code(client, GZ_OFFICE)
    response = post_login(client, GZ_OFFICE, outbox.last_code(GZ_OFFICE))
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/"
    home = client.get("/")
    assert home.status_code == 200
    assert "广州协作办" in text_of(home)
    # a logged-in person sent to /login goes home
    again = client.get("/login")
    assert again.status_code == 302 and urlsplit(again.headers["Location"]).path == "/"


def test_protected_page_sends_to_login_then_back(client, tree, outbox):
    first = client.get("/accounts/")
    assert is_login_redirect(first)
    login_url = first.headers["Location"]
    assert parse_qs(urlsplit(login_url).query)["next"] == ["/accounts/"]
    page = text_of(client.get(login_url))
    assert input_value(page, "next") == "/accounts/"
    send_code(client, GZ_OFFICE)
    response = post_login(client, GZ_OFFICE, outbox.last_code(GZ_OFFICE), next="/accounts/")
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/accounts/"
    assert client.get("/accounts/").status_code == 200


@pytest.mark.parametrize("target", [
    "//evil.example", "https://evil.example", "http://evil.example/accounts/", "//evil.example/path",
    "/\\evil.example", "\\\\evil.example", "https:evil.example", "javascript:alert(1)", "/\t/evil.example",
    "evil.example",
])
def test_next_never_leads_to_another_site(client, tree, outbox, target):
    send_code(client, GZ_OFFICE)
    response = post_login(client, GZ_OFFICE, outbox.last_code(GZ_OFFICE), next=target)
    assert response.status_code == 302
    location = response.headers["Location"]
    # read the Location as a browser does: backslashes count as slashes, tabs vanish
    browser = location.replace("\\", "/").replace("\t", "").replace("\n", "")
    parts = urlsplit(browser)
    assert parts.netloc in ("", "localhost"), location
    assert parts.scheme in ("", "http"), location
    assert not browser.startswith("//"), location
    assert "evil.example" not in parts.netloc


# --- sessions --------------------------------------------------------------------------------------

def test_login_starts_a_new_session(app, client, tree, outbox):
    client.get("/login")
    with client.session_transaction() as sess:
        sess["sid"] = "planted-by-someone-else"
        sess["carried"] = "from before login"
    send_code(client, GZ_OFFICE)
    before = client.get_cookie(COOKIE).value
    assert post_login(client, GZ_OFFICE, outbox.last_code(GZ_OFFICE)).status_code == 302
    after = client.get_cookie(COOKIE).value
    assert after != before
    with client.session_transaction() as sess:
        assert "carried" not in sess
        assert sess["sid"] and sess["sid"] != "planted-by-someone-else"
        sid = sess["sid"]
    with app.app_context():
        rows = db.session.scalars(select(LoginSession).where(
            LoginSession.account_id == account_id(app, GZ_OFFICE))).all()
        assert len(rows) == 1 and rows[0].ended_at is None
        assert sid not in rows[0].token_hash  # only a hash is stored


def test_two_logins_get_different_session_ids(app_factory, app, tree, login):
    factory_app = generous(app_factory)
    one, two = factory_app.test_client(), factory_app.test_client()
    login(one, GZ_OFFICE)
    login(two, GZ_OFFICE)
    with one.session_transaction() as a, two.session_transaction() as b:
        assert a["sid"] != b["sid"]
    assert one.get("/").status_code == 200
    assert two.get("/").status_code == 200


def test_logout_ends_the_session_on_the_server(app, client, tree, login):
    login(client, GZ_OFFICE)
    assert client.get("/").status_code == 200
    old_cookie = client.get_cookie(COOKIE).value
    response = logout(client)
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/login"
    assert "您已安全退出" in text_of(client.get("/login"))
    assert is_login_redirect(client.get("/"))
    # someone who kept a copy of the old cookie gets nowhere
    thief = app.test_client()
    thief.set_cookie(COOKIE, old_cookie)
    assert is_login_redirect(thief.get("/"))
    assert is_login_redirect(thief.get("/accounts/"))
    with app.app_context():
        ended = db.session.scalars(select(LoginSession)).all()
        assert [row.end_reason for row in ended] == ["logout"]


def test_logout_by_get_is_not_allowed(client, tree, login):
    login(client, GZ_OFFICE)
    assert client.get("/logout").status_code == 405
    assert client.get("/").status_code == 200


def test_logout_without_csrf_token_is_refused(client, tree, login):
    login(client, GZ_OFFICE)
    assert client.post("/logout").status_code == 400
    assert client.get("/").status_code == 200


def test_disabling_an_account_ends_its_open_session(app, tree, login):
    market = login(app.test_client(), GZ_MARKET)
    assert market.get("/").status_code == 200
    admin = login(app.test_client(), GZ_OFFICE)
    response = admin.post(f"/accounts/{account_id(app, GZ_MARKET)}/disable",
                          data={"csrf_token": page_token(admin)})
    assert response.status_code == 302
    assert is_login_redirect(market.get("/"))
    with app.app_context():
        row = db.session.scalar(select(LoginSession).where(
            LoginSession.account_id == account_id(app, GZ_MARKET)))
        assert row.ended_at is not None


def test_enabled_again_the_account_can_log_in(app_factory, app, tree, login, outbox):
    factory_app = generous(app_factory)
    market = login(factory_app.test_client(), GZ_MARKET)
    admin = login(factory_app.test_client(), GZ_OFFICE)
    target = account_id(app, GZ_MARKET)
    admin.post(f"/accounts/{target}/disable", data={"csrf_token": page_token(admin)})
    assert is_login_redirect(market.get("/"))
    # while disabled, no code reaches the phone
    sent_before = len(outbox.messages(GZ_MARKET))
    assert send_code(market, GZ_MARKET).status_code == 200
    assert len(outbox.messages(GZ_MARKET)) == sent_before
    admin.post(f"/accounts/{target}/enable", data={"csrf_token": page_token(admin)})
    login(market, GZ_MARKET)
    assert market.get("/").status_code == 200


def _age_sessions(app, phone, **ages):
    with app.app_context():
        now = utcnow()
        db.session.execute(update(LoginSession).where(LoginSession.account_id == account_id(app, phone))
                           .values(**{column: now - age for column, age in ages.items()}))
        db.session.commit()


def test_idle_for_31_minutes_needs_login_again(app, client, tree, login):
    login(client, GZ_OFFICE)
    _age_sessions(app, GZ_OFFICE, last_seen_at=timedelta(minutes=31))
    assert is_login_redirect(client.get("/"))
    # the session is over for good, not only for that request
    assert is_login_redirect(client.get("/"))
    with app.app_context():
        assert db.session.scalar(select(LoginSession.end_reason)) == "idle"
        # the trail says how it ended, once
        [(account_id, detail)] = db.session.execute(select(AuditEvent.account_id, AuditEvent.detail)
                                                    .where(AuditEvent.action == "session_expired")).all()
        assert account_id is not None and "长时间未操作" in detail


def test_idle_for_29_minutes_is_still_logged_in(app, client, tree, login):
    login(client, GZ_OFFICE)
    _age_sessions(app, GZ_OFFICE, last_seen_at=timedelta(minutes=29))
    assert client.get("/").status_code == 200
    # the request counted as activity: last_seen_at moved forward
    with app.app_context():
        seen = db.session.scalar(select(LoginSession.last_seen_at))
        assert utcnow() - seen < timedelta(minutes=1)


def test_idle_timeout_follows_configuration(app_factory, app, tree, login):
    short = app_factory(SESSION_IDLE_MINUTES=5)
    client = login(short.test_client(), GZ_OFFICE)
    _age_sessions(short, GZ_OFFICE, last_seen_at=timedelta(minutes=6))
    assert is_login_redirect(client.get("/"))


def test_absolute_timeout_ends_a_busy_session(app, client, tree, login):
    login(client, GZ_OFFICE)
    _age_sessions(app, GZ_OFFICE, created_at=timedelta(hours=12, minutes=1), last_seen_at=timedelta(minutes=1))
    assert is_login_redirect(client.get("/"))


# --- enterprise self-registration --------------------------------------------------------------

NEW_CREDIT = credit_code("91440101MA5CXXXX1")
NEW_PHONE = "13800138000"


def registration(**changes):
    data = {"name": "广州新注册贸易有限公司", "credit_code": NEW_CREDIT, "city_code": "440100",
            "contact_name": "陈经理", "phone": NEW_PHONE, "code": ""}
    data.update(changes)
    return data


def post_register(client, **changes):
    token = csrf_token(client, "/register")
    return client.post("/register", data={**registration(**changes), "csrf_token": token})


def test_register_page_has_its_fields(client):
    response = client.get("/register")
    assert response.status_code == 200
    page = text_of(response)
    assert {"name", "credit_code", "city_code", "contact_name", "phone", "code", "csrf_token"} <= input_names(page)
    assert "广州市" in page and "深圳市" in page


def test_full_registration_then_login(app_factory, app, tree, outbox, login):
    client = generous(app_factory).test_client()
    sent = send_code(client, NEW_PHONE, path="/register/code")
    assert sent.status_code == 200
    assert "短信已发送至 138****8000" in text_of(sent)
    code = outbox.last_code(NEW_PHONE)
    assert code and "注册验证码" in outbox.messages(NEW_PHONE)[-1]["text"]
    response = post_register(client, code=code, credit_code=NEW_CREDIT.lower())
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/login"
    assert "注册成功" in text_of(client.get("/login"))
    with app.app_context():
        unit = db.session.scalar(select(Unit).where(Unit.credit_code == NEW_CREDIT))
        assert unit is not None
        assert (unit.kind, unit.name, unit.city_code, unit.parent_id) == (
            "enterprise", "广州新注册贸易有限公司", "440100", None)
        assert [(a.phone, a.name, a.role) for a in unit.accounts] == [(NEW_PHONE, "陈经理", "admin")]
    # the register code does not log in; a login code does
    assert post_login(client, NEW_PHONE, code).status_code == 422
    login(client, NEW_PHONE)
    assert "广州新注册贸易有限公司" in text_of(client.get("/"))
    # the city office of the registered city looks after it
    office = login(app.test_client(), GZ_OFFICE)
    assert "广州新注册贸易有限公司" in text_of(office.get("/accounts/"))


def _assert_kept(page, **except_fields):
    data = registration()
    for name in ("name", "credit_code", "contact_name", "phone"):
        if name not in except_fields:
            assert input_value(page, name) == data[name], name
    if "city_code" not in except_fields:
        assert selected_option(page, "city_code") == "440100"


def _unit_count(app):
    with app.app_context():
        return db.session.scalar(select(func.count(Unit.id)))


def test_bad_credit_code_is_refused_beside_its_field(app, client, tree, outbox):
    before = _unit_count(app)
    bad = NEW_CREDIT[:-1] + ("0" if NEW_CREDIT[-1] != "0" else "1")
    response = post_register(client, credit_code=bad, code="123456")
    assert response.status_code == 422
    page = text_of(response)
    assert errors_near(page, "credit_code") == ["统一社会信用代码不正确（应为18位，且校验位正确）"]
    assert input_value(page, "credit_code") == bad
    _assert_kept(page, credit_code=True)
    assert errors_near(page, "phone") == []
    assert _unit_count(app) == before


def test_missing_credit_code_is_refused(client, tree):
    response = post_register(client, credit_code="", code="123456")
    assert response.status_code == 422
    assert errors_near(text_of(response), "credit_code") == ["请填写统一社会信用代码"]


def test_credit_code_already_registered_is_refused(app, client, tree):
    with app.app_context():
        taken = db.session.scalar(select(Unit.credit_code).where(Unit.kind == "enterprise"))
    response = post_register(client, credit_code=taken, code="123456")
    assert response.status_code == 422
    assert errors_near(text_of(response), "credit_code") == ["该统一社会信用代码已登记"]


def test_duplicate_phone_is_refused_without_telling_a_stranger(app, client, tree, outbox):
    """Without the SMS code, "this number has an account" would tell anyone which numbers are
    registered: the code is what is refused."""
    before = _unit_count(app)
    response = post_register(client, phone=GZ_MARKET, code="123456")
    assert response.status_code == 422
    page = text_of(response)
    assert errors_near(page, "phone") == []
    assert errors_near(page, "code") != []
    assert "已开通账号" not in page
    assert input_value(page, "phone") == GZ_MARKET
    _assert_kept(page, phone=True)
    assert _unit_count(app) == before
    # asking for a register code for that number answers as for any number; the number's owner
    # is told by SMS to log in instead, and gets no code
    sent = send_code(client, GZ_MARKET, path="/register/code")
    assert sent.status_code == 200
    assert "已开通账号" not in text_of(sent).split("如该手机号已开通账号")[0]
    [notice] = outbox.messages(GZ_MARKET)
    assert "该手机号已开通账号，无需重复注册" in notice["text"]
    assert outbox.last_code(GZ_MARKET, wait=0) is None


def test_missing_city_is_refused_beside_the_city(app, client, tree):
    before = _unit_count(app)
    response = post_register(client, city_code="", code="123456")
    assert response.status_code == 422
    page = text_of(response)
    assert errors_near(page, "city_code") == ["请选择所在地级市"]
    _assert_kept(page, city_code=True)
    assert _unit_count(app) == before


def test_unknown_city_is_refused(client, tree):
    response = post_register(client, city_code="110000", code="123456")
    assert response.status_code == 422
    assert errors_near(text_of(response), "city_code") == ["请选择所在地级市"]


def test_register_code_is_required(app, client, tree, outbox):
    before = _unit_count(app)
    send_code(client, NEW_PHONE, path="/register/code")
    response = post_register(client, code="")
    assert response.status_code == 422
    page = text_of(response)
    assert errors_near(page, "code") == ["请输入短信验证码"]
    _assert_kept(page)
    assert _unit_count(app) == before


def test_register_code_is_checked(app, client, tree, outbox):
    before = _unit_count(app)
    send_code(client, NEW_PHONE, path="/register/code")
    right = outbox.last_code(NEW_PHONE)
    response = post_register(client, code="000000" if right != "000000" else "111111")
    assert response.status_code == 422
    page = text_of(response)
    assert any("验证码错误" in m for m in errors_near(page, "code"))
    _assert_kept(page)
    assert _unit_count(app) == before
    assert post_register(client, code=right).status_code == 302
    assert _unit_count(app) == before + 1


def test_register_code_of_another_number_does_not_count(app_factory, app, tree, outbox):
    client = generous(app_factory).test_client()
    send_code(client, "13800138001", path="/register/code")
    other = outbox.last_code("13800138001")
    response = post_register(client, code=other)
    assert response.status_code == 422
    assert errors_near(text_of(response), "code") == [CODE_GONE]


def test_login_code_does_not_register(app_factory, app, tree, outbox):
    client = generous(app_factory).test_client()
    send_code(client, NEW_PHONE)  # a login code: nothing is delivered to an unknown number
    assert outbox.messages(NEW_PHONE) == []
    send_code(client, NEW_PHONE, path="/register/code")
    response = post_register(client, code="000000" if outbox.last_code(NEW_PHONE) != "000000" else "111111")
    assert response.status_code == 422


def test_register_without_csrf_token_is_refused(app, client, tree, outbox):
    before = _unit_count(app)
    client.get("/register")
    response = client.post("/register", data=registration(code="123456"))
    assert response.status_code == 400
    assert _unit_count(app) == before
    assert client.post("/register/code", data={"phone": NEW_PHONE}).status_code == 400
    assert outbox.messages() == []


def test_register_code_for_malformed_phone(client, tree, outbox):
    response = send_code(client, "0201234567", path="/register/code")
    assert response.status_code == 422
    assert "手机号码格式不正确" in text_of(response)
    assert outbox.messages() == []


def test_code_status_answer_is_a_fragment(client, tree):
    response = send_code(client, GZ_OFFICE)
    page = text_of(response)
    assert "<html" not in page and 'data-code-sent="yes"' in page
    refused = send_code(client, GZ_OFFICE)
    assert 'data-code-sent="no"' in text_of(refused)
