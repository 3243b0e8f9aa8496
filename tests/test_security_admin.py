"""三员分立 and the security administrator's operations, as domain functions over the database."""
from datetime import timedelta

import pytest
from flask import current_app
from sqlalchemy import select

from portal.accounts import rules, security_admin, service
from portal.accounts.codes import CODE_LOCKED, CodePolicy, CodeRefused, check_code, issue_code
from portal.accounts.kinds import UnitKind
from portal.accounts.models import Account, CodeFailure, LoginSession
from portal.accounts.sessions import resolve_under_policy, start_session
from portal.audit import AuditEvent
from portal.clock import utcnow
from portal.errors import PermissionDenied, ValidationFailed
from portal.extensions import db
from portal.personal_data import phone_key


@pytest.fixture
def acct(ctx, tree):
    return lambda role: db.session.get(Account, getattr(tree, role).id)


def audit_rows(action):
    return db.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)).all()


# --- separation -----------------------------------------------------------------------------------

def test_only_the_system_administrator_opens_and_manages_the_province_units(acct):
    province_unit = acct("province").unit
    assert rules.openable_kinds(acct("system")) == [UnitKind.PROVINCE_OFFICE, UnitKind.FINANCE]
    for role in ("security_admin", "audit_admin"):
        account = acct(role)
        assert rules.openable_kinds(account) == []
        assert not rules.is_admin(account)
        assert not rules.may_manage_unit(account, province_unit)
        assert not rules.does_business(account)
        with pytest.raises(PermissionDenied):
            service.open_unit(account, kind="finance", name="另一个财政厅", contact_name="张三", phone="13711112222")
    assert rules.may_manage_unit(acct("system"), province_unit)


def test_none_of_the_three_administrators_does_business_work(acct):
    assert all(not rules.does_business(acct(role)) for role in ("system", "security_admin", "audit_admin"))
    assert all(rules.does_business(acct(role)) for role in ("province", "gz_merchant", "province_finance"))


# --- settings --------------------------------------------------------------------------------------

VALID = {"session_idle_minutes": "15", "session_absolute_minutes": "480", "code_max_attempts": "3",
         "lockout_failures": "6"}


def test_settings_default_to_the_environment_until_set(acct):
    config = current_app.config
    assert security_admin.session_limits(config) == (timedelta(minutes=30), timedelta(hours=12))
    changes = security_admin.save_settings(acct("security_admin"), config, VALID)
    assert changes["session_idle_minutes"] == [30, 15]
    assert security_admin.session_limits(config) == (timedelta(minutes=15), timedelta(minutes=480))
    policy = CodePolicy.from_config(config)
    assert (policy.max_attempts, policy.lockout_failures) == (3, 6)
    [row] = audit_rows("security_settings_changed")
    assert row.account_id == acct("security_admin").id and "会话空闲超时" in row.detail_data


@pytest.mark.parametrize("key, value, message", [
    ("session_idle_minutes", "4", "5到120"), ("session_idle_minutes", "", "请填写"),
    ("lockout_failures", "x" * 100, "3到50"), ("code_max_attempts", "²", "3到10"),
    ("session_absolute_minutes", "10", "30到1440"),
])
def test_settings_out_of_bounds_are_refused_beside_their_field(acct, key, value, message):
    with pytest.raises(ValidationFailed) as refused:
        security_admin.save_settings(acct("security_admin"), current_app.config, {**VALID, key: value})
    assert message in refused.value.errors[key]


def test_absolute_timeout_is_not_shorter_than_idle(acct):
    with pytest.raises(ValidationFailed) as refused:
        security_admin.save_settings(acct("security_admin"), current_app.config,
                                     {**VALID, "session_idle_minutes": "120", "session_absolute_minutes": "60"})
    assert "session_absolute_minutes" in refused.value.errors


def test_only_the_security_administrator_changes_the_policy(acct):
    for role in ("system", "audit_admin", "province"):
        with pytest.raises(PermissionDenied):
            security_admin.save_settings(acct(role), current_app.config, VALID)
    assert {row.result for row in audit_rows("security_settings_changed")} == {"denied"}


def test_a_shorter_idle_timeout_ends_sessions_already_open(acct):
    token = start_session(acct("gz_merchant"), ip="10.0.0.8", now=utcnow() - timedelta(minutes=20))
    db.session.flush()
    security_admin.save_settings(acct("security_admin"), current_app.config, VALID)  # idle 15 minutes
    assert resolve_under_policy(token, current_app.config) is None
    assert db.session.scalar(select(LoginSession.end_reason)) == "idle"


# --- sessions --------------------------------------------------------------------------------------

def test_live_sessions_and_force_logout(acct):
    now = utcnow()
    live = start_session(acct("gz_merchant"), ip="10.0.0.8", now=now)
    start_session(acct("gz_market"), now=now - timedelta(hours=2))  # idle for longer than 30 minutes
    db.session.flush()
    rows = db.session.scalars(security_admin.live_sessions_query(current_app.config)).all()
    assert [row.account_id for row in rows] == [acct("gz_merchant").id]
    assert security_admin.end_session_by_admin(acct("security_admin"), rows[0])
    assert rows[0].end_reason == "forced"
    assert resolve_under_policy(live, current_app.config) is None
    assert not security_admin.end_session_by_admin(acct("security_admin"), rows[0])  # already ended
    [row] = audit_rows("session_ended")
    assert row.detail_data["ip"] == "10.0.0.8" and row.detail_data["phone"] == "137****1012"


def test_no_one_else_ends_a_session(acct):
    start_session(acct("gz_merchant"))
    db.session.flush()
    row = db.session.scalar(select(LoginSession))
    for role in ("system", "audit_admin", "gz_market"):
        with pytest.raises(PermissionDenied):
            security_admin.end_session_by_admin(acct(role), row)
    assert row.ended_at is None


# --- lockouts, accounts ----------------------------------------------------------------------------

def test_unlock_clears_the_wrong_tries_that_lock_a_number(acct):
    policy = CodePolicy.from_config(current_app.config)
    phone = acct("gz_merchant").phone
    code, _ = issue_code(policy, phone, "login", deliver=True, ip="10.0.0.9")
    # A stranger's wrong tries from one address, as check_code records them.
    db.session.add_all([CodeFailure(code_id=code.id, phone_key=phone_key(phone), ip="10.0.0.9",
                                    created_at=utcnow() - timedelta(minutes=5))
                        for _ in range(policy.lockout_failures)])
    db.session.flush()
    with pytest.raises(CodeRefused) as refused:
        check_code(policy, phone, "login", "123456", ip="10.0.0.9")
    assert refused.value.message == CODE_LOCKED
    key = acct("gz_merchant").phone_key
    assert security_admin.lockouts([key], policy.lockout_failures) == {key: ["10.0.0.9"]}
    assert security_admin.unlock(acct("security_admin"), acct("gz_merchant")) == policy.lockout_failures
    assert security_admin.lockouts([key], policy.lockout_failures) == {}
    with pytest.raises(CodeRefused) as refused:
        check_code(policy, phone, "login", "123456", ip="10.0.0.9")
    assert refused.value.reason != "locked"
    [row] = audit_rows("lockout_cleared")
    assert row.detail_data["cleared"] == policy.lockout_failures
    with pytest.raises(PermissionDenied):
        security_admin.unlock(acct("province"), acct("gz_merchant"))


def test_security_administrator_disables_and_enables_any_account_but_its_own(acct):
    actor, merchant = acct("security_admin"), acct("gz_merchant")
    start_session(merchant)
    db.session.flush()
    service.set_account_active(actor, merchant, False)
    assert not merchant.active
    assert db.session.scalar(select(LoginSession.end_reason)) == "disabled"
    service.set_account_active(actor, merchant, True)
    assert merchant.active
    service.set_account_active(actor, acct("province"), False)  # across the tree, not only below it
    with pytest.raises(PermissionDenied):
        service.set_account_active(actor, actor, False)
    with pytest.raises(PermissionDenied):
        service.set_account_active(acct("audit_admin"), merchant, False)


def test_search_by_unit_name_full_or_masked_number(acct):
    def found(text):
        return {account.phone for account in db.session.scalars(security_admin.search_accounts_query(text))}

    assert found("广州批发") == {"13700001011", "13700001012"}
    assert found("13700001012") == {"13700001012"}
    assert found("137****1012") == {"13700001012"}
    assert found("%") == set()  # a wildcard is a character, not everything
    assert security_admin.search_accounts_query("  ") is None
