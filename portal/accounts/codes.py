"""One-time SMS codes: issuing under rate limits, and checking with expiry, reuse and lockout.

Pure rules over the database; the clock and the limits are arguments, so tests control both.

Nobody but the owner of a number should be able to spend its limits (短信轰炸 and lockout):
- a number gets at most per_minute / per_hour / per_day codes (the gateways' own rules), and
  one client address at most half of the hourly and daily quota, so that a stranger on one
  network always leaves the owner the rest;
- wrong tries are counted per code and address (max_attempts) and per number and address
  (lockout_failures an hour): a stranger's tries lock out the stranger's address only;
- the owner's next correct code ends it all: codes and wrong tries from before the number's
  last used code no longer count (but for the per-minute pace, which is the gateway's).
The answers never tell whether the number has an account: a number without one gets a code
row that is never delivered, counted and checked exactly like a delivered one.
"""
import hmac
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, func, select, text, update

from portal import personal_data
from portal.accounts.models import CodeFailure, SmsCode
from portal.clock import utcnow
from portal.extensions import db

#: a code wrong, used, expired, voided or never requested: one answer, so that no state (a code
#: used at the last login, say) tells a stranger anything about the number
CODE_GONE = "验证码错误或已失效，请重新获取"
CODE_SPENT = "验证码错误次数过多，已失效，请重新获取"
CODE_LOCKED = "该手机号在当前网络验证码错误次数过多，请1小时后再试"
CODE_EMPTY = "请输入短信验证码"
#: longer than any code typed with spaces: not read at all
TYPED_MAX = 32
LOCKOUT_WINDOW = timedelta(hours=1)
#: wrong tries on one code from all addresses together, as a multiple of max_attempts: bounds
#: guessing from many addresses at once
ALL_ADDRESSES_FACTOR = 4


@dataclass(frozen=True)
class CodePolicy:
    secret_key: str
    ttl: timedelta = timedelta(minutes=5)
    #: wrong tries on one code from one address
    max_attempts: int = 5
    per_minute: int = 1
    per_hour: int = 5
    per_day: int = 10
    #: wrong tries on one number from one address within an hour before that address is locked out
    lockout_failures: int = 10

    @classmethod
    def from_config(cls, config):
        """The policy now: the lockout thresholds the security administrator set, the rest (and
        the thresholds' defaults) from the environment."""
        from portal.accounts.security_admin import current_settings  # it imports LOCKOUT_WINDOW

        settings = current_settings(config)
        return cls(
            secret_key=config["SECRET_KEY"],
            ttl=timedelta(minutes=config["LOGIN_CODE_TTL_MINUTES"]),
            max_attempts=settings["code_max_attempts"],
            per_minute=config["SMS_LIMIT_PER_MINUTE"],
            per_hour=config["SMS_LIMIT_PER_HOUR"],
            per_day=config["SMS_LIMIT_PER_DAY"],
            lockout_failures=settings["lockout_failures"],
        )

    @property
    def address_share_hour(self):
        return (self.per_hour + 1) // 2

    @property
    def address_share_day(self):
        return (self.per_day + 1) // 2

    @property
    def max_attempts_all_addresses(self):
        return ALL_ADDRESSES_FACTOR * self.max_attempts


#: the precise cause of a refused code, as the audit trail shows it to the people who read it
REASON_LABELS = {
    "none": "未获取验证码", "used": "验证码已使用", "voided": "验证码已作废", "expired": "验证码已过期",
    "wrong": "验证码错误", "spent here": "验证码错误次数已用完", "locked": "当前网络错误次数过多，已锁定",
}


class CodeRefused(Exception):
    """A code may not be sent now, or the code typed is not accepted.

    `message` is for the person and the same whether or not the number has an account;
    `reason` is the precise cause, for the audit trail.
    """

    def __init__(self, message, reason=None):
        super().__init__(message)
        self.message = message
        self.reason = reason or message


def _keyed_hash(policy, phone, purpose, code):
    message = f"{purpose}:{phone}:{code}".encode()
    return hmac.new(policy.secret_key.encode(), message, "sm3").hexdigest()


def _address(ip):
    return ip or ""


def _owner_since(phone_keys):
    """When the number's owner last proved it with a correct code (any purpose), or the epoch."""
    return db.session.scalar(select(func.max(SmsCode.used_at)).where(SmsCode.phone_key.in_(phone_keys))) \
        or datetime.min


def issue_code(policy, phone, purpose, *, deliver, ip=None, now=None):
    """Make a new code for the number, voiding earlier ones; returns (row, code).

    `deliver` says whether a message will go out; a row is kept either way, so the
    limits, and the answer a caller sees, are the same for every number.
    """
    now = now or utcnow()
    if db.session.get_bind().dialect.name == "postgresql":
        # Serialize sends to one number, so that parallel requests cannot pass the limits together.
        db.session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"sms:{phone}"})
    phone_keys = personal_data.phone_keys(phone)
    since = _owner_since(phone_keys)

    def sent_since(delta, from_here=False):
        query = select(func.count(SmsCode.id)).where(SmsCode.phone_key.in_(phone_keys),
                                                      SmsCode.created_at > max(now - delta, since))
        if from_here:
            query = query.where(func.coalesce(SmsCode.ip, "") == _address(ip))
        return db.session.scalar(query)

    day, hour = timedelta(days=1), timedelta(hours=1)
    if sent_since(day) >= policy.per_day or sent_since(day, True) >= policy.address_share_day:
        raise CodeRefused("该手机号今日获取验证码次数已达上限，请明天再试")
    if sent_since(hour) >= policy.per_hour or sent_since(hour, True) >= policy.address_share_hour:
        raise CodeRefused("该手机号获取验证码过于频繁，请1小时后再试")
    pace = db.session.scalar(select(func.count(SmsCode.id)).where(
        SmsCode.phone_key.in_(phone_keys), SmsCode.created_at > now - timedelta(minutes=1)))
    if pace >= policy.per_minute:
        raise CodeRefused("验证码已发送，请1分钟后再重新获取")

    db.session.execute(
        update(SmsCode)
        .where(SmsCode.phone_key.in_(phone_keys), SmsCode.purpose == purpose,
               SmsCode.used_at.is_(None), SmsCode.voided_at.is_(None))
        .values(voided_at=now)
    )
    code = f"{secrets.randbelow(1_000_000):06d}"
    row = SmsCode(phone_key=phone_keys[0], purpose=purpose, code_hash=_keyed_hash(policy, phone, purpose, code),
                  created_at=now, expires_at=now + policy.ttl, delivered=deliver, ip=ip)
    db.session.add(row)
    db.session.flush()
    return row, code


def _typed_code(code):
    if code is None:
        return ""
    if not isinstance(code, str) or len(code) > TYPED_MAX:
        return "-"  # never a code, but not empty either: counted as a wrong try
    return "".join(unicodedata.normalize("NFKC", code).split())


def check_code(policy, phone, purpose, code, *, ip=None, now=None):
    """Accept the code once, or raise CodeRefused; wrong tries are counted.

    The caller commits in both cases, so that a failed try is remembered. Every path does the
    same work up to the state of the number's latest code, which is the same for numbers with
    and without an account.
    """
    now = now or utcnow()
    typed = _typed_code(code)
    typed_hash = _keyed_hash(policy, phone, purpose, typed)
    if not typed:
        raise CodeRefused(CODE_EMPTY)
    address = _address(ip)
    phone_keys = personal_data.phone_keys(phone)
    since = max(now - LOCKOUT_WINDOW, _owner_since(phone_keys))
    failures_here = db.session.scalar(select(func.count(CodeFailure.id)).where(
        CodeFailure.phone_key.in_(phone_keys), CodeFailure.ip == address, CodeFailure.created_at > since))
    if failures_here >= policy.lockout_failures:
        raise CodeRefused(CODE_LOCKED, "locked")
    # FOR UPDATE (PostgreSQL) orders the tries at one code, so that the counts read below are
    # the others' committed ones; SQLite serialises writers by itself.
    latest = db.session.scalar(
        select(SmsCode).where(SmsCode.phone_key.in_(phone_keys), SmsCode.purpose == purpose)
        .order_by(SmsCode.created_at.desc(), SmsCode.id.desc()).limit(1).with_for_update()
    )
    if latest is None:
        raise CodeRefused(CODE_GONE, "none")
    for reason, gone in (("used", latest.used_at is not None), ("voided", latest.voided_at is not None),
                         ("expired", now >= latest.expires_at)):
        if gone:
            raise CodeRefused(CODE_GONE, reason)
    tries_here = db.session.scalar(select(func.count(CodeFailure.id)).where(
        CodeFailure.code_id == latest.id, CodeFailure.ip == address))
    if tries_here >= policy.max_attempts:
        raise CodeRefused(CODE_SPENT, "spent here")
    right = hmac.compare_digest(latest.code_hash, typed_hash) and latest.delivered
    # Both outcomes are one conditional UPDATE, so that two requests at the same moment can
    # neither use a code twice nor lose a wrong try.
    still_open = (SmsCode.id == latest.id, SmsCode.used_at.is_(None), SmsCode.voided_at.is_(None))
    if right:
        used = db.session.execute(update(SmsCode).where(*still_open).values(used_at=now)
                                  .execution_options(synchronize_session=False))
        if used.rowcount != 1:
            raise CodeRefused(CODE_GONE, "used")
        return latest
    cap = policy.max_attempts_all_addresses
    attempts = db.session.execute(
        update(SmsCode).where(*still_open)
        .values(failed_attempts=SmsCode.failed_attempts + 1,
                voided_at=case((SmsCode.failed_attempts + 1 >= cap, now), else_=None))
        .returning(SmsCode.failed_attempts).execution_options(synchronize_session=False)
    ).scalar()
    if attempts is None:
        raise CodeRefused(CODE_GONE, "used")
    db.session.add(CodeFailure(code_id=latest.id, phone_key=phone_keys[0], ip=address, created_at=now))
    db.session.flush()
    left = policy.max_attempts - tries_here - 1
    if left <= 0 or attempts >= cap:
        raise CodeRefused(CODE_SPENT, "wrong")
    raise CodeRefused(f"验证码错误，还可尝试{left}次", "wrong")
