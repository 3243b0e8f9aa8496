"""An account's life after it is opened: what a person is told of their previous login
(上次登录信息), and dormant accounts, disabled after a period without use.

Callers commit; nothing here reads the request.
"""
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select

from portal import audit
from portal.accounts.kinds import AccountRole, UnitKind
from portal.accounts.models import Account, CodeFailure, Unit
from portal.accounts.sessions import end_all_sessions
from portal.clock import to_china, utcnow
from portal.extensions import db


def note_login(account, ip, now=None):
    """Record this login on the account; return what to tell the person of the previous one:
    {"at": ISO text or None, "ip": ..., "failed": wrong codes typed for the number since}."""
    now = now or utcnow()
    previous_at, previous_ip = account.last_login_at, account.last_login_ip
    failed = 0
    if previous_at is not None:
        failed = db.session.scalar(select(func.count(CodeFailure.id)).where(
            CodeFailure.with_phone(account.phone), CodeFailure.created_at > previous_at))
    account.last_login_at, account.last_login_ip = now, ip
    return {"at": previous_at.isoformat() if previous_at else None, "ip": previous_ip or "", "failed": failed}


def previous_login_text(previous):
    """上次登录：2026年11月30日 09:12，IP 10.0.0.8；此后有2次登录失败 — or the first login's notice."""
    if not previous:
        return None
    if not previous.get("at"):
        return "这是您的首次登录。"
    try:
        local = to_china(datetime.fromisoformat(previous["at"]))
    except (TypeError, ValueError):
        return None
    text = f"上次登录：{local.year}年{local.month}月{local.day}日 {local:%H:%M}"
    if previous.get("ip"):
        text += f"，IP {previous['ip']}"
    failed = previous.get("failed") or 0
    text += f"；此后有{failed}次登录失败" if failed else "；此后没有登录失败"
    return text


def _last_used(account):
    return max(moment for moment in (account.last_login_at or account.created_at, account.reactivated_at)
               if moment is not None)


def is_dormant(account, days, now=None):
    """Unused for `days`: no login (or, never logged in, not opened) and not enabled again within
    that period."""
    return _last_used(account) < (now or utcnow()) - timedelta(days=days)


def reenabled_by(account):
    """Who may enable the account again, as the refusal names them."""
    unit = account.unit
    if unit.kind == UnitKind.SYSTEM:
        return "安全管理员"
    if account.role == AccountRole.STAFF:
        opener = f"本单位（{unit.name}）的管理员"
    elif unit.parent is not None:
        opener = f"{unit.parent.name}的管理员"
    else:  # a self-registered enterprise: the office of its city looks after it
        office = db.session.scalar(select(Unit.name).where(Unit.kind == UnitKind.CITY_OFFICE,
                                                           Unit.city_code == unit.city_code))
        opener = f"{office or '所在地级市帮扶部门'}的管理员"
    return f"{opener}或安全管理员"


def dormant_message(account, days):
    return f"该账号已连续{days}天未使用，已按规定停用。请联系{reenabled_by(account)}重新启用。"


def disable_dormant_account(account, days, now=None):
    """Disable one dormant account: its sessions end; audited without an actor (the rule acts)."""
    now = now or utcnow()
    last = _last_used(account)
    account.active = False
    end_all_sessions(account, "dormant", now)
    audit.record("account_dormant", actor=None, object_ref=f"account:{account.id}",
                 detail={"phone": account.masked_phone, "unit": account.unit.name, "days": days,
                         "last_used": to_china(last).strftime("%Y-%m-%d %H:%M")})


def disable_dormant(days, now=None):
    """Disable every active account unused for `days`; returns them."""
    now = now or utcnow()
    cutoff = now - timedelta(days=days)
    accounts = db.session.scalars(
        select(Account).where(Account.active.is_(True),
                              func.coalesce(Account.last_login_at, Account.created_at) < cutoff,
                              or_(Account.reactivated_at.is_(None), Account.reactivated_at < cutoff))
        .order_by(Account.id)).all()
    for account in accounts:
        disable_dormant_account(account, days, now)
    return accounts
