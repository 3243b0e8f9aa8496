"""Server-side login sessions: idle and absolute timeouts, logout, disabling, touch interval."""
import hashlib
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from portal.accounts import service
from portal.accounts.models import Account, LoginSession
from portal.accounts.sessions import (TOUCH_INTERVAL, end_all_sessions, end_session, resolve_session,
                                      start_session)
from portal.extensions import db

T0 = datetime(2024, 3, 4, 9, 0, 0)
IDLE = timedelta(minutes=30)
ABSOLUTE = timedelta(hours=12)


def resolve(token, at):
    """One request: resolve the cookie's token at time `at`, then commit as the app does."""
    found = resolve_session(token, idle=IDLE, absolute=ABSOLUTE, now=at)
    db.session.commit()
    return found


def row(token):
    db.session.expire_all()
    return db.session.scalar(
        select(LoginSession).where(LoginSession.token_hash == hashlib.sha256(token.encode()).hexdigest()))


@pytest.fixture
def account(ctx, tree):
    return db.session.get(Account, tree.gz_market.id)


@pytest.fixture
def token(account):
    token = start_session(account, ip="10.0.0.8", now=T0)
    db.session.commit()
    return token


def test_new_session_resolves_to_its_account(account, token):
    found = resolve(token, T0 + timedelta(seconds=1))
    assert found.account_id == account.id
    assert found.ip == "10.0.0.8"


def test_token_is_kept_only_as_a_hash(token):
    stored = row(token)
    assert stored.token_hash != token
    assert token not in stored.token_hash
    assert len(token) >= 32


def test_each_login_gets_its_own_token(account, token):
    other = start_session(account, now=T0)
    db.session.commit()
    assert other != token
    assert resolve(other, T0).id != resolve(token, T0).id


@pytest.mark.parametrize("token_value", ["", None, "not-a-token"])
def test_missing_or_unknown_token_resolves_to_nothing(ctx, token_value):
    assert resolve(token_value, T0) is None


def test_idle_session_alive_before_30_minutes(token):
    assert resolve(token, T0 + timedelta(minutes=29, seconds=59)) is not None


def test_idle_timeout_after_30_minutes(token):
    assert resolve(token, T0 + timedelta(minutes=30, seconds=1)) is None
    stored = row(token)
    assert stored.end_reason == "idle"
    assert stored.ended_at == T0 + timedelta(minutes=30, seconds=1)
    # Coming back later does not revive it.
    assert resolve(token, T0 + timedelta(minutes=31)) is None


def test_activity_keeps_the_session_alive(token):
    at = T0
    for _ in range(5):  # a request every 20 minutes for 100 minutes
        at += timedelta(minutes=20)
        assert resolve(token, at) is not None
    assert row(token).ended_at is None
    # ...until the person stops for more than 30 minutes.
    assert resolve(token, at + timedelta(minutes=31)) is None
    assert row(token).end_reason == "idle"


def test_absolute_timeout_after_12_hours_despite_activity(token):
    at = T0
    while at + timedelta(minutes=20) < T0 + ABSOLUTE:
        at += timedelta(minutes=20)
        assert resolve(token, at) is not None, at
    assert resolve(token, T0 + timedelta(hours=11, minutes=59, seconds=59)) is not None
    assert resolve(token, T0 + ABSOLUTE + timedelta(seconds=1)) is None
    assert row(token).end_reason == "absolute"


def test_logout_ends_the_session(token):
    end_session(token, now=T0 + timedelta(minutes=1))
    db.session.commit()
    assert resolve(token, T0 + timedelta(minutes=2)) is None
    stored = row(token)
    assert stored.end_reason == "logout"
    assert stored.ended_at == T0 + timedelta(minutes=1)


def test_logout_leaves_other_devices_signed_in(account, token):
    other = start_session(account, now=T0)
    db.session.commit()
    end_session(token, now=T0 + timedelta(minutes=1))
    db.session.commit()
    assert resolve(other, T0 + timedelta(minutes=2)) is not None


def test_logout_twice_keeps_the_first_reason(token):
    end_session(token, now=T0 + timedelta(minutes=1))
    end_session(token, reason="idle", now=T0 + timedelta(minutes=2))
    db.session.commit()
    stored = row(token)
    assert (stored.end_reason, stored.ended_at) == ("logout", T0 + timedelta(minutes=1))


def test_disabled_account_session_is_ended(account, token):
    account.active = False
    db.session.commit()
    assert resolve(token, T0 + timedelta(minutes=1)) is None
    assert row(token).end_reason == "disabled"
    # Enabling the account again does not bring the old session back.
    db.session.get(Account, account.id).active = True
    db.session.commit()
    assert resolve(token, T0 + timedelta(minutes=2)) is None


def test_disabled_unit_ends_its_accounts_sessions(account, token):
    account.unit.active = False
    db.session.commit()
    assert resolve(token, T0 + timedelta(minutes=1)) is None
    assert row(token).end_reason == "disabled"


def test_disabling_through_the_service_ends_sessions(ctx, tree, account, token):
    office = db.session.get(Account, tree.gz_office.id)
    service.set_account_active(office, account, False)
    db.session.commit()
    assert row(token).end_reason == "disabled"
    assert resolve(token, T0 + timedelta(seconds=5)) is None


def test_end_all_sessions_ends_only_that_accounts_sessions(ctx, tree, account, token):
    second = start_session(account, now=T0)
    someone_else = start_session(db.session.get(Account, tree.gz_merchant.id), now=T0)
    db.session.commit()
    end_all_sessions(account, "phone_changed", now=T0 + timedelta(minutes=1))
    db.session.commit()
    assert resolve(token, T0 + timedelta(minutes=2)) is None
    assert resolve(second, T0 + timedelta(minutes=2)) is None
    assert row(token).end_reason == "phone_changed"
    assert row(second).end_reason == "phone_changed"
    assert resolve(someone_else, T0 + timedelta(minutes=2)) is not None


def test_touch_interval_limits_writes(token):
    assert TOUCH_INTERVAL == timedelta(seconds=60)
    resolve(token, T0 + timedelta(seconds=30))
    assert row(token).last_seen_at == T0  # within the interval: no write
    resolve(token, T0 + timedelta(seconds=61))
    assert row(token).last_seen_at == T0 + timedelta(seconds=61)
    resolve(token, T0 + timedelta(seconds=100))
    assert row(token).last_seen_at == T0 + timedelta(seconds=61)


def test_idle_time_counts_from_the_last_recorded_activity(token):
    # A request 30 s in is within the touch interval and is not recorded, so the
    # idle clock still runs from the login.
    resolve(token, T0 + timedelta(seconds=30))
    assert resolve(token, T0 + timedelta(minutes=30, seconds=10)) is None
    assert row(token).end_reason == "idle"


def test_session_uses_configured_timeouts(app):
    assert app.config["SESSION_IDLE_MINUTES"] == 30
    assert app.config["SESSION_ABSOLUTE_HOURS"] == 12
