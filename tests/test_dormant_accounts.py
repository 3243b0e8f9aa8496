"""Account lifecycle: dormant accounts disabled (by the daily command and at their own login),
re-enabled by their opener or the security administrator; closed or disabled units' sessions end
at once; and 上次登录信息 after login."""
import re
from datetime import timedelta

from sqlalchemy import select, update

from portal.accounts import service
from portal.accounts.models import Account, LoginSession, SmsCode, Unit
from portal.audit import AuditEvent
from portal.clock import to_china, utcnow
from portal.extensions import db
from portal.reservations import unit_changes
from tests.conftest import csrf_token


def _age(app, phone, days):
    """Make the account's last use `days` ago."""
    with app.app_context():
        then = utcnow() - timedelta(days=days)
        db.session.execute(update(Account).where(Account.with_phone(phone)).values(last_login_at=then, created_at=then))
        db.session.commit()


def _a_minute_later(app):
    """The SMS gateway's pace (one code a minute per number) passed."""
    with app.app_context():
        db.session.execute(update(SmsCode).values(created_at=SmsCode.created_at - timedelta(minutes=2)))
        db.session.commit()


def _account(app, phone):
    with app.app_context():
        account = db.session.scalar(select(Account).where(Account.with_phone(phone)))
        db.session.expunge(account)
        return account


def test_disable_dormant_command_disables_only_accounts_unused_for_the_period(app, tree, client, login):
    login(client, tree.gz_merchant.phone)
    _age(app, tree.gz_merchant.phone, 181)
    _age(app, tree.gz_store.phone, 179)
    with app.app_context():  # as `flask --app app disable-dormant` runs it
        result = app.test_cli_runner().invoke(args=["disable-dormant"])
    assert result.exit_code == 0, result.output
    assert "137****1012" in result.output and "共停用" in result.output
    assert not _account(app, tree.gz_merchant.phone).active
    assert _account(app, tree.gz_store.phone).active
    # Its open session ended with it.
    assert "/login" in client.get("/").headers["Location"]
    with app.app_context():
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "account_dormant"))
        assert event.object_ref == f"account:{tree.gz_merchant.id}" and event.detail_data["days"] == 180


def test_dormant_period_comes_from_the_setting(app_factory):
    app = app_factory(ACCOUNT_DORMANT_DAYS=30)
    assert app.config["ACCOUNT_DORMANT_DAYS"] == 30


def _login_attempt(app, client, outbox, phone):
    token = csrf_token(client)
    assert client.post("/login/code", data={"phone": phone, "csrf_token": token}).status_code == 200
    return client.post("/login", data={"phone": phone, "code": outbox.last_code(phone), "csrf_token": token})


def test_a_dormant_accounts_login_is_refused_naming_who_enables_it(app, tree, client, outbox, login):
    _age(app, tree.gz_merchant.phone, 200)
    refused = _login_attempt(app, client, outbox, tree.gz_merchant.phone)
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    assert "已连续180天未使用" in page and "广州批发市场的管理员或安全管理员" in page
    assert not _account(app, tree.gz_merchant.phone).active
    # Its opener, the market, enables it again; then it logs in.
    with app.app_context():
        service.set_account_active(db.session.get(Account, tree.gz_market.id),
                                   db.session.get(Account, tree.gz_merchant.id), True)
        db.session.commit()
    _a_minute_later(app)
    login(app.test_client(), tree.gz_merchant.phone)


def test_the_security_administrator_enables_a_dormant_account(app, tree, client, outbox, login):
    _age(app, tree.gz_enterprise.phone, 365)
    page = _login_attempt(app, client, outbox, tree.gz_enterprise.phone).get_data(as_text=True)
    assert "广州协作办的管理员或安全管理员" in page  # a self-registered enterprise: its city's office
    admin = login(app.test_client(), tree.security_admin.phone)
    token = csrf_token(admin, "/security/accounts?q=广州测试企业")
    done = admin.post(f"/security/accounts/{tree.gz_enterprise.id}/enable", data={"csrf_token": token})
    assert done.status_code == 302
    assert _account(app, tree.gz_enterprise.phone).active
    _a_minute_later(app)
    login(app.test_client(), tree.gz_enterprise.phone)


def test_a_closed_or_disabled_units_sessions_end_at_once(app, tree, login):
    school, gz = app.test_client(), app.test_client()
    login(school, tree.budget_unit.phone)
    login(gz, tree.gz_budget.phone)
    with app.app_context():
        unit_changes.close_unit(db.session.get(Account, tree.superior_budget.id),
                                db.session.get(Unit, tree.budget_unit.unit_id), "机构改革撤销")
        db.session.get(Unit, tree.gz_budget.unit_id).active = False  # disabled by any other path
        db.session.commit()
    for client in (school, gz):
        assert "/login" in client.get("/").headers["Location"]
    with app.app_context():
        reasons = set(db.session.scalars(select(LoginSession.end_reason).where(LoginSession.account_id.in_(
            [tree.budget_unit.id, tree.gz_budget.id]))))
        assert reasons == {"disabled"}


# --- 上次登录信息 --------------------------------------------------------------------------------------

def _notice(client):
    match = re.search(r'id="previous-login"[^>]*>\s*([^<]+)', client.get("/").get_data(as_text=True))
    return match.group(1).strip() if match else None


def test_after_login_the_previous_logins_time_ip_and_failures_are_shown(app, tree, outbox, login):
    previous = (utcnow() - timedelta(days=10)).replace(second=0, microsecond=0)
    local = to_china(previous)
    first = login(app.test_client(), tree.gz_merchant.phone)
    assert _notice(first) == "这是您的首次登录。"
    with app.app_context():
        db.session.execute(update(Account).where(Account.id == tree.gz_merchant.id).values(
            last_login_at=previous,
            last_login_ip="10.0.0.8"))
        db.session.commit()
    # Two wrong codes typed for the number since, from somewhere else.
    _a_minute_later(app)
    stranger = app.test_client()
    token = csrf_token(stranger)
    stranger.post("/login/code", data={"phone": tree.gz_merchant.phone, "csrf_token": token})
    for _ in range(2):
        wrong = stranger.post("/login", data={"phone": tree.gz_merchant.phone, "code": "000000", "csrf_token": token})
        assert wrong.status_code == 422
    _a_minute_later(app)
    second = login(app.test_client(), tree.gz_merchant.phone)
    assert _notice(second).startswith(f"上次登录：{local.year}年{local.month}月{local.day}日 {local:%H:%M}，"
                                      "IP 10.0.0.8；此后有2次登录失败")
    _a_minute_later(app)
    third = login(app.test_client(), tree.gz_merchant.phone)
    assert _notice(third).endswith("IP 127.0.0.1；此后没有登录失败")
