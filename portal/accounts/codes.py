"""One-time SMS codes: issuing under rate limits, and checking with expiry, reuse and lockout.

Pure rules over the database; the clock and the limits are arguments, so tests control both.
"""
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import case, func, select, text, update

from portal.accounts.models import SmsCode
from portal.clock import utcnow
from portal.extensions import db


@dataclass(frozen=True)
class CodePolicy:
    secret_key: str
    ttl: timedelta = timedelta(minutes=5)
    max_attempts: int = 5
    per_minute: int = 1
    per_hour: int = 5
    per_day: int = 10

    @classmethod
    def from_config(cls, config):
        return cls(
            secret_key=config["SECRET_KEY"],
            ttl=timedelta(minutes=config["LOGIN_CODE_TTL_MINUTES"]),
            max_attempts=config["LOGIN_CODE_MAX_ATTEMPTS"],
            per_minute=config["SMS_LIMIT_PER_MINUTE"],
            per_hour=config["SMS_LIMIT_PER_HOUR"],
            per_day=config["SMS_LIMIT_PER_DAY"],
        )


class CodeRefused(Exception):
    """A code may not be sent now, or the code typed is not accepted; message is for the person."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


def _keyed_hash(policy, phone, purpose, code):
    message = f"{purpose}:{phone}:{code}".encode()
    return hmac.new(policy.secret_key.encode(), message, hashlib.sha256).hexdigest()


def issue_code(policy, phone, purpose, *, deliver, ip=None, now=None):
    """Make a new code for the number, voiding earlier ones; returns (row, code).

    `deliver` says whether a message will go out; a row is kept either way, so the
    limits, and the answer a caller sees, are the same for every number.
    """
    now = now or utcnow()
    if db.session.get_bind().dialect.name == "postgresql":
        # Serialize sends to one number, so that parallel requests cannot pass the limits together.
        db.session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"sms:{phone}"})

    def sent_since(delta):
        return db.session.scalar(
            select(func.count(SmsCode.id)).where(SmsCode.phone == phone, SmsCode.created_at > now - delta)
        )

    if sent_since(timedelta(days=1)) >= policy.per_day:
        raise CodeRefused("该手机号今日获取验证码次数已达上限，请明天再试")
    if sent_since(timedelta(hours=1)) >= policy.per_hour:
        raise CodeRefused("该手机号获取验证码过于频繁，请1小时后再试")
    if sent_since(timedelta(minutes=1)) >= policy.per_minute:
        raise CodeRefused("验证码已发送，请1分钟后再重新获取")

    db.session.execute(
        update(SmsCode)
        .where(SmsCode.phone == phone, SmsCode.purpose == purpose,
               SmsCode.used_at.is_(None), SmsCode.voided_at.is_(None))
        .values(voided_at=now)
    )
    code = f"{secrets.randbelow(1_000_000):06d}"
    row = SmsCode(phone=phone, purpose=purpose, code_hash=_keyed_hash(policy, phone, purpose, code),
                  created_at=now, expires_at=now + policy.ttl, delivered=deliver, ip=ip)
    db.session.add(row)
    db.session.flush()
    return row, code


def check_code(policy, phone, purpose, code, *, now=None):
    """Accept the code once, or raise CodeRefused; wrong tries are counted on the row.

    The caller commits in both cases, so that a failed try is remembered.
    """
    now = now or utcnow()
    code = (code or "").strip()
    if not code:
        raise CodeRefused("请输入短信验证码")
    latest = db.session.scalar(
        select(SmsCode).where(SmsCode.phone == phone, SmsCode.purpose == purpose)
        .order_by(SmsCode.created_at.desc(), SmsCode.id.desc()).limit(1)
    )
    if latest is None:
        raise CodeRefused("请先获取短信验证码")
    if latest.used_at is not None:
        raise CodeRefused("验证码已使用，请重新获取")
    if latest.voided_at is not None:
        raise CodeRefused("验证码错误次数过多，已失效，请重新获取")
    if now >= latest.expires_at:
        raise CodeRefused("验证码已过期，请重新获取")
    right = latest.delivered and hmac.compare_digest(latest.code_hash,
                                                      _keyed_hash(policy, phone, purpose, code))
    # Both outcomes are one conditional UPDATE, so that two requests at the same moment can
    # neither use a code twice nor lose a wrong try (the row lock orders them on PostgreSQL).
    still_open = (SmsCode.id == latest.id, SmsCode.used_at.is_(None), SmsCode.voided_at.is_(None))
    if right:
        used = db.session.execute(update(SmsCode).where(*still_open).values(used_at=now)
                                  .execution_options(synchronize_session=False))
        if used.rowcount != 1:
            raise CodeRefused("验证码已使用，请重新获取")
        return latest
    attempts = db.session.execute(
        update(SmsCode).where(*still_open)
        .values(failed_attempts=SmsCode.failed_attempts + 1,
                voided_at=case((SmsCode.failed_attempts + 1 >= policy.max_attempts, now), else_=None))
        .returning(SmsCode.failed_attempts).execution_options(synchronize_session=False)
    ).scalar()
    if attempts is None:
        raise CodeRefused("验证码已失效，请重新获取")
    left = policy.max_attempts - attempts
    if left <= 0:
        raise CodeRefused("验证码错误次数过多，已失效，请重新获取")
    raise CodeRefused(f"验证码错误，还可尝试{left}次")
