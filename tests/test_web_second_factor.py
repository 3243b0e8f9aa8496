"""The second factor in the browser's requests: enrolment at the first login of an account that
needs it, the code page after the SMS code, codes never twice, recovery codes once, five wrong
codes end the session, the guard in front of every other page, and the security
administrator's reset."""
import re

import pyotp
import pytest
from sqlalchemy import select

from portal.accounts.models import Account, LoginSession
from portal.accounts.second_factor import REUSED_CODE, factor_of, recovery_codes_left
from portal.audit import AuditEvent
from portal.extensions import db
from tests.conftest import csrf_token, totp_code_for
from tests.test_authz_matrix import MATRIX


@pytest.fixture(autouse=True)
def several_logins(app):
    """These tests log one number in several times within a minute."""
    app.config.update(SMS_LIMIT_PER_MINUTE=20, SMS_LIMIT_PER_HOUR=20, SMS_LIMIT_PER_DAY=20)


def sms_login(client, outbox, phone):
    """Phone and SMS code only: the answer to POST /login."""
    token = csrf_token(client)
    assert client.post("/login/code", data={"phone": phone, "csrf_token": token}).status_code == 200
    return client.post("/login", data={"phone": phone, "code": outbox.last_code(phone), "csrf_token": token})


def half_login(client, outbox, phone):
    response = sms_login(client, outbox, phone)
    assert response.status_code == 302 and response.headers["Location"] == "/second-factor"
    return client


def enrol(client):
    """Through the enrolment page: the secret from its manual-entry text, confirmed by a code."""
    page = client.get("/second-factor/enrol").get_data(as_text=True)
    assert 'src="data:image/png;base64,' in page
    secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', page).group(1).replace(" ", "")
    done = client.post("/second-factor/enrol", data={"code": pyotp.TOTP(secret).now(),
                                                     "csrf_token": csrf_token(client, "/second-factor/enrol")})
    assert done.status_code == 200, done.get_data(as_text=True)
    assert done.headers["Cache-Control"] == "no-store"
    codes = re.findall(r"<li[^>]*>([A-Z2-9]{5}-[A-Z2-9]{5})</li>", done.get_data(as_text=True))
    assert len(codes) == 10
    return secret, codes


def give(client, code):
    return client.post("/second-factor/verify", data={"code": code,
                                                      "csrf_token": csrf_token(client, "/second-factor/verify")})


def audit_actions(app, account_id):
    with app.app_context():
        return [row.action for row in db.session.scalars(
            select(AuditEvent).where(AuditEvent.object_ref == f"account:{account_id}").order_by(AuditEvent.id))]


def test_an_administrator_enrols_at_first_login_then_logs_in_with_a_code(app, client, tree, outbox):
    province = tree.province
    half_login(client, outbox, province.phone)
    assert client.get("/second-factor").headers["Location"] == "/second-factor/enrol"
    assert client.get("/").headers["Location"] == "/second-factor"  # nothing else yet
    page = client.get("/second-factor/enrol").get_data(as_text=True)
    assert "绑定双因素认证" in page and "账号管理" not in page  # no menu for a half login
    secret, codes = enrol(client)
    home = client.get("/")
    assert home.status_code == 200 and "账号管理" in home.get_data(as_text=True)
    assert audit_actions(app, province.id)[-3:] == ["login", "second_factor_enrolled", "second_factor_passed"]
    with app.app_context():
        stored = factor_of(db.session.get(Account, province.id)).secret
    assert secret not in stored

    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    other = app.test_client()
    half_login(other, outbox, province.phone)
    assert other.get("/second-factor").headers["Location"] == "/second-factor/verify"
    page = other.get("/second-factor/verify").get_data(as_text=True)
    assert "验证器应用" in page and "恢复码" in page
    code = totp_code_for(app, province.phone)
    assert give(other, code).headers["Location"] == "/"
    assert other.get("/accounts/").status_code == 200
    assert audit_actions(app, province.id)[-1] == "second_factor_passed"

    # The same code again, in another login: refused, however fresh it still is.
    third = app.test_client()
    half_login(third, outbox, province.phone)
    refused = give(third, code)
    assert refused.status_code == 422 and REUSED_CODE in refused.get_data(as_text=True)
    assert third.get("/").headers["Location"] == "/second-factor"
    assert audit_actions(app, province.id)[-1] == "second_factor_failed"


def test_login_keeps_where_the_person_was_going(app, client, tree, outbox, login):
    login(app.test_client(), tree.province_finance.phone)  # enrolled by the fixture
    token = csrf_token(client, "/login?next=/reservations/finance")
    client.post("/login/code", data={"phone": tree.province_finance.phone, "csrf_token": token})
    sent = client.post("/login", data={"phone": tree.province_finance.phone, "next": "/reservations/finance",
                                       "code": outbox.last_code(tree.province_finance.phone), "csrf_token": token})
    assert sent.headers["Location"] == "/second-factor"
    assert give(client, totp_code_for(app, tree.province_finance.phone)).headers["Location"] == "/reservations/finance"


def test_a_recovery_code_works_once(app, client, tree, outbox):
    half_login(client, outbox, tree.gz_finance.phone)
    _, codes = enrol(client)
    for attempt, expected in ((1, 302), (2, 422)):
        person = app.test_client()
        half_login(person, outbox, tree.gz_finance.phone)
        answer = give(person, codes[0].lower())
        assert answer.status_code == expected, attempt
    assert "恢复码错误或已使用" in answer.get_data(as_text=True)
    with app.app_context():
        assert recovery_codes_left(db.session.get(Account, tree.gz_finance.id)) == 9
    assert "second_factor_recovery_used" in audit_actions(app, tree.gz_finance.id)


def test_five_wrong_codes_end_the_session(app, client, tree, outbox, login):
    login(app.test_client(), tree.county_finance.phone)
    half_login(client, outbox, tree.county_finance.phone)
    for attempt in range(1, 5):
        wrong = give(client, "000000")
        assert wrong.status_code == 422 and f"还可尝试{5 - attempt}次" in wrong.get_data(as_text=True)
    ended = give(client, "000000")
    assert ended.headers["Location"] == "/login"
    assert client.get("/").headers["Location"].startswith("/login")
    assert client.get("/second-factor").headers["Location"].startswith("/login")
    with app.app_context():
        row = db.session.scalars(select(LoginSession).where(LoginSession.account_id == tree.county_finance.id)
                                 .order_by(LoginSession.id.desc())).first()
        assert row.end_reason == "second_factor"
    assert audit_actions(app, tree.county_finance.id)[-2:] == ["second_factor_failed", "second_factor_locked"]


class _TreeOrAnyId:
    """The tree, and id 1 for the objects the matrix makes (records, sheets): the guard answers
    before any view loads them."""

    def __init__(self, tree):
        self.tree = tree

    def __getattr__(self, name):
        return getattr(self.tree, name, 1)


def test_a_half_login_reaches_nothing_but_the_second_factor_pages(app, client, tree, outbox):
    half_login(client, outbox, tree.province.phone)
    tried = 0
    for endpoint, (method, url_for_tree, _) in MATRIX.items():
        if method != "GET" or endpoint.startswith("second_factor.") or endpoint == "health.healthz":
            continue
        response = client.get(url_for_tree(_TreeOrAnyId(tree)))
        url = url_for_tree(_TreeOrAnyId(tree))
        tried += 1
        assert response.status_code == 302 and response.headers["Location"] == "/second-factor", (endpoint, url)
    assert tried > 30
    htmx = client.get("/records/", headers={"HX-Request": "true"})
    assert htmx.headers["HX-Redirect"] == "/second-factor"
    posted = client.post("/accounts/units/new", data={"csrf_token": csrf_token(client, "/second-factor/enrol")})
    assert posted.headers["Location"] == "/second-factor"
    assert client.get("/static/portal.js").status_code == 200
    assert client.get("/healthz").status_code == 200
    # Without the cookie's flag the session row still decides: no page as this account.
    with client.session_transaction() as cookie:
        cookie.pop("second_factor_pending")
    assert client.get("/accounts/").headers["Location"].startswith("/login")
    assert client.get("/second-factor").headers["Location"] == "/second-factor/enrol"
    assert client.get("/accounts/").headers["Location"] == "/second-factor"  # the flag is back
    # Logout ends the half login.
    out = client.post("/logout", data={"csrf_token": csrf_token(client, "/second-factor/enrol")})
    assert out.headers["Location"] == "/login"
    assert client.get("/second-factor").headers["Location"].startswith("/login")


def test_others_log_in_without_one_and_may_enrol_from_their_page(app, client, tree, outbox, login):
    response = sms_login(client, outbox, tree.gz_office.phone)
    assert response.headers["Location"] == "/"
    # Every page's header leads to it.
    assert '<a class="link-light" href="/second-factor">双因素认证</a>' in client.get("/").get_data(as_text=True)
    page = client.get("/second-factor").get_data(as_text=True)
    assert "未绑定" in page and "/second-factor/enrol" in page
    enrol(client)
    assert "已绑定" in client.get("/second-factor").get_data(as_text=True)
    # From now on this account's logins owe the code too.
    again = app.test_client()
    half_login(again, outbox, tree.gz_office.phone)
    assert give(again, totp_code_for(app, tree.gz_office.phone)).headers["Location"] == "/"
    # A second enrolment is refused: only a reset replaces the factor.
    assert again.get("/second-factor/enrol").headers["Location"] == "/second-factor"


def test_only_the_security_administrator_resets(app, client, tree, outbox, login):
    victim_client = app.test_client()
    login(victim_client, tree.province.phone)
    url = f"/security/second-factor/{tree.province.id}/reset"
    for role in ("system", "audit_admin", "province_finance", "gz_office"):
        other = login(app.test_client(), getattr(tree, role).phone)
        assert other.post(url, data={"csrf_token": csrf_token(other, "/")}).status_code == 403, role
    security = login(client, tree.security_admin.phone)
    token = csrf_token(security, "/")
    assert security.post("/security/second-factor/999999/reset", data={"csrf_token": token}).status_code == 404
    assert security.post(url, data={"csrf_token": token, "next": "//evil.example"}).headers["Location"] == "/"
    assert security.post(f"/security/second-factor/{tree.security_admin.id}/reset",
                         data={"csrf_token": token}).status_code == 403
    with app.app_context():
        assert factor_of(db.session.get(Account, tree.province.id)) is None
        results = [(row.account_id, row.result) for row in db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "second_factor_reset").order_by(AuditEvent.id))]
    assert results[-2] == (tree.security_admin.id, "ok") and [r for _, r in results].count("denied") == 5
    # The reset ended the person's session; the next login enrols again.
    assert victim_client.get("/").headers["Location"].startswith("/login")
    fresh = half_login(app.test_client(), outbox, tree.province.phone)
    assert fresh.get("/second-factor").headers["Location"] == "/second-factor/enrol"


def test_hostile_codes_are_answered_in_chinese(app, client, tree, outbox, login):
    login(app.test_client(), tree.province.phone)
    half_login(client, outbox, tree.province.phone)
    for junk in ("", "１２３４５６", "x" * 5000, "<svg onload=1>", "12345\u0000", "'; DROP TABLE account; --"):
        answer = give(client, junk)
        assert answer.status_code in (400, 422) or answer.headers["Location"] == "/login", junk
        if answer.status_code == 302:
            break
