"""Server-side login sessions: the cookie holds a random token, the database decides."""
import hashlib
import secrets
from datetime import timedelta
from functools import cache

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import joinedload

from portal import audit
from portal.accounts.models import Account, LoginSession, Unit
from portal.clock import utcnow
from portal.extensions import db

#: how often last_seen_at is written, so that every request does not write a row
TOUCH_INTERVAL = timedelta(seconds=60)


def _hash(token):
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(account, *, ip=None, now=None, second_factor_pending=False):
    """Open a session for the account and return the token for the cookie; one that still owes
    the second factor reaches only its pages until then (blueprints/second_factor.py)."""
    now = now or utcnow()
    token = secrets.token_urlsafe(32)
    db.session.add(LoginSession(token_hash=_hash(token), account_id=account.id, created_at=now,
                                last_seen_at=now, ip=ip, second_factor_pending=second_factor_pending))
    return token


@cache
def _by_token():
    """The session of a token with the account, its unit and the unit's city, which every request
    reads (rules, menus, header). Built once, on first use (building it configures the mappers, which
    needs every model imported), so that each request binds a token instead of building the
    statement and its cache key."""
    return (select(LoginSession).where(LoginSession.token_hash == bindparam("token_hash"))
            .options(joinedload(LoginSession.account).joinedload(Account.unit).joinedload(Unit.city)))


def resolve_session(token, *, idle, absolute, now=None):
    """Return the live session for a token, ending it if a timeout has passed."""
    if not token:
        return None
    login_session = db.session.scalar(_by_token(), {"token_hash": _hash(token)})
    return _judge(login_session, idle, absolute, now or utcnow()) if login_session else None


def resolve_under_policy(token, config, now=None):
    """resolve_session under the timeouts the security administrator set (the environment's
    SESSION_IDLE_MINUTES and SESSION_ABSOLUTE_HOURS when unset), read in the session's own query:
    this runs on every request, and a policy cached per process would lag in the other workers."""
    if not token:
        return None
    row = db.session.execute(_under_policy(), {"token_hash": _hash(token)}).first()
    if row is None:
        return None
    from portal.accounts.security_admin import SETTINGS_BY_KEY  # it imports this module's models

    login_session, idle_minutes, absolute_minutes = row
    idle = idle_minutes if idle_minutes is not None else SETTINGS_BY_KEY["session_idle_minutes"].default(config)
    absolute = (absolute_minutes if absolute_minutes is not None
                else SETTINGS_BY_KEY["session_absolute_minutes"].default(config))
    return _judge(login_session, timedelta(minutes=idle), timedelta(minutes=absolute), now or utcnow())


@cache
def _under_policy():
    """_by_token() with the two timeouts the security administrator may have stored, built once."""
    from portal.accounts.security_admin import stored_setting  # it imports this module's models

    return _by_token().add_columns(stored_setting("session_idle_minutes"), stored_setting("session_absolute_minutes"))


def _judge(login_session, idle, absolute, now):
    """The session if it is still live (touched once a minute), else None, ended with its audit row."""
    if login_session.ended_at is not None:
        return None
    for reason, over in (("absolute", now - login_session.created_at > absolute),
                         ("idle", now - login_session.last_seen_at > idle),
                         ("disabled", not login_session.account.is_active)):
        if over:
            _end(login_session, reason, now)
            # The trail shows how a session ended, timeouts included (logout has its own row).
            audit.record("session_expired", actor=login_session.account, at=now,
                         object_ref=f"account:{login_session.account_id}", detail={"reason": EXPIRY_REASONS[reason]})
            return None
    if now - login_session.last_seen_at > TOUCH_INTERVAL:
        login_session.last_seen_at = now
    return login_session


EXPIRY_REASONS = {"absolute": "超过会话最长时间", "idle": "长时间未操作", "disabled": "账号或单位已停用"}


def _end(login_session, reason, now):
    login_session.ended_at = now
    login_session.end_reason = reason


def session_id_of(token):
    """The id of the session row a cookie's token names, or None."""
    if not token:
        return None
    return db.session.scalar(select(LoginSession.id).where(LoginSession.token_hash == _hash(token)))


def end_session(token, reason="logout", now=None):
    login_session = db.session.scalar(select(LoginSession).where(LoginSession.token_hash == _hash(token)))
    if login_session is not None and login_session.ended_at is None:
        _end(login_session, reason, now or utcnow())


def end_all_sessions(account, reason, now=None):
    db.session.execute(
        update(LoginSession)
        .where(LoginSession.account_id == account.id, LoginSession.ended_at.is_(None))
        .values(ended_at=now or utcnow(), end_reason=reason)
    )
