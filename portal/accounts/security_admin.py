"""The security administrator's work (安全管理员, 三员分立): the security policy as data, the live
sessions with force-logout, lockouts and the search of accounts to unlock, disable or enable.

Each operation checks that the actor is the security administrator, changes, and writes its
audit row in the same transaction; callers commit. Nothing here reads the request.
"""
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import DateTime, ForeignKey, Integer, String, delete, func, or_, select
from sqlalchemy.orm import Mapped, joinedload, mapped_column

from portal import audit
from portal.accounts.codes import LOCKOUT_WINDOW
from portal.accounts.models import Account, CodeFailure, LoginSession, SmsCode, Unit
from portal.accounts.rules import is_security_admin
from portal.accounts.validators import normalize_mobile
from portal.clock import utcnow
from portal.errors import PermissionDenied, ValidationFailed
from portal.extensions import db
from portal.params import BadValue, parse_int


class SecuritySetting(db.Model):
    """One setting of the security policy; a missing row means the environment's default."""

    __tablename__ = "security_setting"

    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"))


@dataclass(frozen=True)
class Setting:
    key: str
    label: str
    unit: str
    minimum: int
    maximum: int
    #: the default from the app's config (environment variables)
    default: object


#: what the security administrator sets, in the order the page shows them; the bounds keep a
#: mistyped value from locking everyone out or leaving sessions open for days
SETTINGS = (
    Setting("session_idle_minutes", "会话空闲超时", "分钟", 5, 120, lambda c: c["SESSION_IDLE_MINUTES"]),
    Setting("session_absolute_minutes", "会话最长时间", "分钟", 30, 24 * 60,
            lambda c: c["SESSION_ABSOLUTE_HOURS"] * 60),
    Setting("code_max_attempts", "单个验证码允许错误次数", "次", 3, 10, lambda c: c["LOGIN_CODE_MAX_ATTEMPTS"]),
    Setting("lockout_failures", "同一网络1小时内错误次数达到即锁定", "次", 3, 50,
            lambda c: 2 * c["LOGIN_CODE_MAX_ATTEMPTS"]),
)
SETTINGS_BY_KEY = {setting.key: setting for setting in SETTINGS}


def stored_setting(key):
    """The stored value of one setting (NULL when unset), as a subquery to read beside other rows."""
    return select(SecuritySetting.value).where(SecuritySetting.key == key).scalar_subquery()


def current_settings(config):
    """Every setting's value now: the stored one, or the environment's default."""
    stored = dict(db.session.execute(select(SecuritySetting.key, SecuritySetting.value)).all())
    return {setting.key: stored.get(setting.key, setting.default(config)) for setting in SETTINGS}


def session_limits(config):
    """(idle, absolute) timeouts of sessions under the current policy."""
    values = current_settings(config)
    return (timedelta(minutes=values["session_idle_minutes"]),
            timedelta(minutes=values["session_absolute_minutes"]))


def _require(actor, action, object_ref=None):
    if not is_security_admin(actor):
        audit.record(action, actor=actor, object_ref=object_ref, result="denied")
        raise PermissionDenied("仅安全管理员可以执行此操作")


def save_settings(actor, config, values):
    """Store the settings typed on the page (strings); every change is audited old → new."""
    _require(actor, "security_settings_changed")
    errors, parsed = {}, {}
    for setting in SETTINGS:
        try:
            number = parse_int(values.get(setting.key), minimum=setting.minimum, maximum=setting.maximum,
                               label=setting.label)
        except BadValue as bad:
            errors[setting.key] = bad.message
            continue
        if number is None:
            errors[setting.key] = f"请填写{setting.label}"
            continue
        parsed[setting.key] = number
    if not errors and parsed["session_absolute_minutes"] < parsed["session_idle_minutes"]:
        errors["session_absolute_minutes"] = "会话最长时间不能短于空闲超时"
    if errors:
        raise ValidationFailed(errors)
    before = current_settings(config)
    changes = {key: [before[key], value] for key, value in parsed.items() if before[key] != value}
    now = utcnow()
    for key in changes:
        row = db.session.get(SecuritySetting, key)
        if row is None:
            row = SecuritySetting(key=key)
            db.session.add(row)
        row.value, row.updated_at, row.updated_by_id = parsed[key], now, actor.id
    if changes:
        audit.record("security_settings_changed", actor=actor, object_ref="security_setting",
                     detail={SETTINGS_BY_KEY[key].label: pair for key, pair in changes.items()})
    return changes


def live_sessions_query(config, now=None):
    """Sessions not ended and within the current timeouts, newest first."""
    now = now or utcnow()
    idle, absolute = session_limits(config)
    return (select(LoginSession)
            .options(joinedload(LoginSession.account).joinedload(Account.unit))
            .where(LoginSession.ended_at.is_(None), LoginSession.last_seen_at > now - idle,
                   LoginSession.created_at > now - absolute))


def end_session_by_admin(actor, login_session, now=None):
    """Force-logout: the session row ends, and with it the person's next request."""
    ref = f"session:{login_session.id}"
    _require(actor, "session_ended", ref)
    if login_session.ended_at is not None:
        return False
    login_session.ended_at, login_session.end_reason = now or utcnow(), "forced"
    account = login_session.account
    audit.record("session_ended", actor=actor, object_ref=ref,
                 detail={"phone": account.masked_phone, "unit": account.unit.name, "ip": login_session.ip or ""})
    return True


MASKED = re.compile(r"(\d{3})\*{4}(\d{4})")


def search_accounts_query(text):
    """Accounts whose unit name holds the text, or whose number is the one typed in full or
    masked as the lists show it (138****1012); None when nothing was typed."""
    text = (text or "").strip()
    if not text:
        return None
    query = select(Account).join(Account.unit).options(joinedload(Account.unit))
    conditions = [Unit.name.contains(text, autoescape=True)]
    mobile = normalize_mobile(text)
    if mobile:
        conditions.append(Account.with_phone(mobile))
    masked = MASKED.fullmatch(text.replace(" ", ""))
    if masked:
        conditions.append(Account.phone_masked == masked.group(0))
    return query.where(or_(*conditions))


def lockouts(phone_keys, lockout_failures, now=None):
    """{phone key: [addresses locked out]} for the numbers' blind indexes given, as
    codes.check_code counts them: wrong tries from one address within the hour since the owner's
    last correct code."""
    now = now or utcnow()
    if not phone_keys:
        return {}
    owner = (select(SmsCode.phone_key, func.max(SmsCode.used_at).label("since"))
             .where(SmsCode.phone_key.in_(phone_keys)).group_by(SmsCode.phone_key).subquery())
    rows = db.session.execute(
        select(CodeFailure.phone_key, CodeFailure.ip, func.count(CodeFailure.id))
        .outerjoin(owner, owner.c.phone_key == CodeFailure.phone_key)
        .where(CodeFailure.phone_key.in_(phone_keys), CodeFailure.created_at > now - LOCKOUT_WINDOW,
               or_(owner.c.since.is_(None), CodeFailure.created_at > owner.c.since))
        .group_by(CodeFailure.phone_key, CodeFailure.ip)).all()
    locked = {}
    for phone_key, ip, count in rows:
        if count >= lockout_failures:
            locked.setdefault(phone_key, []).append(ip or "未知地址")
    return locked


def unlock(actor, account):
    """Clear the wrong tries counted against the account's number, from every address."""
    ref = f"account:{account.id}"
    _require(actor, "lockout_cleared", ref)
    cleared = db.session.execute(delete(CodeFailure).where(CodeFailure.with_phone(account.phone))).rowcount
    audit.record("lockout_cleared", actor=actor, object_ref=ref,
                 detail={"phone": account.masked_phone, "unit": account.unit.name, "cleared": cleared})
    return cleared
