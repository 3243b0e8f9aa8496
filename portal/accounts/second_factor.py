"""The second factor after the SMS code: TOTP (RFC 6238, pyotp) and single-use recovery codes.

Required of the three administrators and of the admins of the province office and of every
finance department (等保 2.0 level 3: two techniques, one cryptographic); others may enrol.
The secret is kept SM4-encrypted (portal/crypto.py), recovery codes only as keyed SM3 hashes.
A code is accepted one step either side of now (clock drift), and never twice: the last
accepted time step is stored and only a later one passes, by a conditional UPDATE, so two
requests with one code cannot both succeed. Only the security administrator resets a factor.
"""
import secrets
import unicodedata
from datetime import datetime, timezone

import pyotp
from sqlalchemy import BigInteger, DateTime, ForeignKey, Integer, String, Text, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from portal import audit, crypto
from portal.accounts.kinds import AccountRole, AdminRole, UnitKind
from portal.accounts.sessions import end_all_sessions
from portal.clock import utcnow
from portal.extensions import db

ISSUER = "消费帮扶门户"
VALID_WINDOW = 1
RECOVERY_CODE_COUNT = 10
#: wrong codes in one session before it ends
MAX_FAILURES = 5
#: recovery codes: no 0/O, 1/I/L, so that a code copied by hand reads back right
RECOVERY_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
RECOVERY_LENGTH = 10
SECRET_CONTEXT = "second_factor.secret"
RECOVERY_PURPOSE = "recovery_code"

WRONG_CODE = "验证码错误，请输入验证器应用中当前显示的6位数字"
REUSED_CODE = "该验证码已使用过，请等待验证器显示下一个验证码"
WRONG_RECOVERY = "恢复码错误或已使用"
UNREADABLE = "请输入6位数字验证码或10位恢复码"

audit.ACTION_LABELS.update({
    "second_factor_enrolled": "绑定双因素认证",
    "second_factor_passed": "双因素认证通过",
    "second_factor_failed": "双因素认证失败",
    "second_factor_locked": "双因素认证错误过多",
    "second_factor_recovery_used": "使用恢复码",
    "second_factor_reset": "重置双因素认证",
})


class SecondFactor(db.Model):
    """An account's TOTP secret, stored once a first code proved the app holds it."""

    __tablename__ = "second_factor"

    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"), primary_key=True)
    #: the base32 secret as an SM4-GCM token (crypto.encrypt), never in clear
    secret: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime)
    #: the last accepted 30-second step: a code of this step or an earlier one is refused
    last_step: Mapped[int | None] = mapped_column(BigInteger)


class RecoveryCode(db.Model):
    """One of the ten codes shown once at enrolment, kept as its keyed SM3 hash."""

    __tablename__ = "recovery_code"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime | None] = mapped_column(DateTime)


class SecondFactorError(Exception):
    """A refused code or operation; `message` is what the person reads."""

    def __init__(self, message, reason):
        super().__init__(message)
        self.message = message
        self.reason = reason


def requires_second_factor(account):
    if account.admin_role is not None:
        return True
    return account.role == AccountRole.ADMIN and account.unit.kind in (UnitKind.PROVINCE_OFFICE, UnitKind.FINANCE)


def owed(account):
    """Whether a login of this account must give the second factor: required, or enrolled."""
    return requires_second_factor(account) or is_enrolled(account)


def factor_of(account):
    return db.session.get(SecondFactor, account.id)


def is_enrolled(account):
    factor = factor_of(account)
    return factor is not None and factor.confirmed_at is not None


def recovery_codes_left(account):
    return db.session.scalar(select(func.count()).select_from(RecoveryCode).where(
        RecoveryCode.account_id == account.id, RecoveryCode.used_at.is_(None)))


def secret_of(factor):
    return crypto.decrypt(factor.secret, context=SECRET_CONTEXT)


def provisioning_uri(account, secret):
    """What the QR code holds: the authenticator app shows the issuer and the masked number."""
    return pyotp.TOTP(secret).provisioning_uri(name=account.masked_phone, issuer_name=ISSUER)


def _enrol_context(account):
    return f"second_factor.enrol:{account.id}"


def start_enrolment(account, sealed=None):
    """The secret to show for enrolment and the SM4 token that carries it to the confirmation
    (kept in the person's session, not the database, until a code confirms it): the sealed one
    if it is this account's (a reload keeps the QR code), else a new one. An account already
    enrolled is refused: only a reset replaces its factor."""
    if is_enrolled(account):
        raise SecondFactorError("已绑定双因素认证；如需更换，请联系安全管理员重置", "already_enrolled")
    secret = _unseal(account, sealed)
    if secret is None:
        secret = pyotp.random_base32()
        sealed = crypto.encrypt(secret, context=_enrol_context(account))
    return secret, sealed


def _unseal(account, sealed):
    try:
        return crypto.decrypt(sealed, context=_enrol_context(account)) if sealed else None
    except crypto.DecryptionError:
        return None


def _matching_step(secret, code, now):
    """The time step (now ± VALID_WINDOW) whose code this is, or None."""
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now.replace(tzinfo=timezone.utc))  # stored times are naive UTC
    for step in range(current - VALID_WINDOW, current + VALID_WINDOW + 1):
        if secrets.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def _claim_step(account, step):
    """Record the step as used, only if it is later than the last one: one statement, so two
    requests with the same code cannot both pass."""
    result = db.session.execute(
        update(SecondFactor)
        .where(SecondFactor.account_id == account.id,
               or_(SecondFactor.last_step.is_(None), SecondFactor.last_step < step))
        .values(last_step=step).execution_options(synchronize_session=False))
    return result.rowcount == 1


def normalise(text):
    """A typed code as its digits or recovery letters: full-width forms, spaces and dashes out."""
    text = unicodedata.normalize("NFKC", text or "")
    return "".join(ch for ch in text if ch not in " -\t").upper()


def _check_totp(account, factor, code, now):
    if not (len(code) == 6 and code.isascii() and code.isdigit()):
        raise SecondFactorError(WRONG_CODE, "unreadable")
    step = _matching_step(secret_of(factor), code, now)
    if step is None:
        raise SecondFactorError(WRONG_CODE, "wrong_code")
    if not _claim_step(account, step):
        raise SecondFactorError(REUSED_CODE, "reused_code")


def _new_recovery_codes(account):
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.account_id == account.id))
    codes = ["".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_LENGTH))
             for _ in range(RECOVERY_CODE_COUNT)]
    db.session.add_all(RecoveryCode(account_id=account.id, code_hash=crypto.keyed_sm3(code, RECOVERY_PURPOSE))
                       for code in codes)
    return [f"{code[:5]}-{code[5:]}" for code in codes]


def confirm_enrolment(account, sealed, text, now=None):
    """Confirm the secret being enrolled with a code from the app; stores it and returns the ten
    recovery codes, which are shown this once."""
    now = now or utcnow()
    secret = _unseal(account, sealed)
    if secret is None or is_enrolled(account):
        raise SecondFactorError("绑定已失效，请重新扫描本页的二维码", "no_enrolment")
    code = normalise(text)
    step = _matching_step(secret, code, now) if len(code) == 6 and code.isascii() and code.isdigit() else None
    if step is None:
        raise SecondFactorError(WRONG_CODE, "wrong_code")
    try:
        with db.session.begin_nested():  # two confirmations at once: the second finds the row
            db.session.add(SecondFactor(account_id=account.id, created_at=now, confirmed_at=now, last_step=step,
                                        secret=crypto.encrypt(secret, context=SECRET_CONTEXT)))
    except IntegrityError:
        raise SecondFactorError("已绑定双因素认证", "already_enrolled") from None
    codes = _new_recovery_codes(account)
    audit.record("second_factor_enrolled", actor=account, object_ref=f"account:{account.id}",
                 detail={"required": requires_second_factor(account)})
    db.session.flush()
    return codes


def _use_recovery_code(account, code, now):
    hashes = crypto.keyed_sm3_all(code, RECOVERY_PURPOSE)
    found = db.session.scalar(select(RecoveryCode.id).where(
        RecoveryCode.account_id == account.id, RecoveryCode.code_hash.in_(hashes),
        RecoveryCode.used_at.is_(None)))
    if found is None:
        raise SecondFactorError(WRONG_RECOVERY, "wrong_recovery_code")
    claimed = db.session.execute(
        update(RecoveryCode).where(RecoveryCode.id == found, RecoveryCode.used_at.is_(None))
        .values(used_at=now).execution_options(synchronize_session=False))
    if claimed.rowcount != 1:
        raise SecondFactorError(WRONG_RECOVERY, "wrong_recovery_code")
    audit.record("second_factor_recovery_used", actor=account, object_ref=f"account:{account.id}",
                 detail={"left": recovery_codes_left(account)})


def verify(account, text, now=None):
    """Check a TOTP code or a recovery code of an enrolled account; returns "totp" or
    "recovery_code", or raises SecondFactorError."""
    now = now or utcnow()
    factor = factor_of(account)
    if factor is None or factor.confirmed_at is None:
        raise SecondFactorError("尚未绑定双因素认证", "not_enrolled")
    code = normalise(text)
    if len(code) == 6 and code.isdigit():
        _check_totp(account, factor, code, now)
        return "totp"
    if len(code) == RECOVERY_LENGTH and code.isascii() and code.isalnum():
        _use_recovery_code(account, code, now)
        return "recovery_code"
    raise SecondFactorError(UNREADABLE, "unreadable")


def pass_session(login_session, method, now=None):
    """The session's login is complete."""
    login_session.second_factor_pending = False
    login_session.second_factor_at = now or utcnow()
    audit.record("second_factor_passed", actor=login_session.account,
                 object_ref=f"account:{login_session.account_id}", detail={"method": method})


def fail_session(login_session, reason, now=None):
    """Count a wrong code in the session; the fifth ends it. Returns True when it ended."""
    account = login_session.account
    login_session.second_factor_failures = (login_session.second_factor_failures or 0) + 1
    failures = login_session.second_factor_failures
    audit.record("second_factor_failed", actor=account, object_ref=f"account:{account.id}", result="failed",
                 detail={"reason": reason, "failures": failures})
    if failures < MAX_FAILURES:
        return False
    login_session.ended_at = now or utcnow()
    login_session.end_reason = "second_factor"
    audit.record("second_factor_locked", actor=account, object_ref=f"account:{account.id}", result="denied",
                 detail={"failures": failures})
    return True


def may_reset(actor):
    return actor.admin_role == AdminRole.SECURITY


def refuse_reset(actor, account_id):
    """Audit a refused reset and raise: only the security administrator, and not of their own."""
    message = "仅安全管理员可重置他人的双因素认证"
    audit.record("second_factor_reset", actor=actor, object_ref=f"account:{account_id}", result="denied",
                 detail={"reason": message})
    raise SecondFactorError(message, "not_allowed")


def reset(actor, account, now=None):
    """The security administrator removes an account's factor and recovery codes, and ends its
    sessions; an account that requires a factor enrols again at its next login."""
    if not may_reset(actor) or actor.id == account.id:
        refuse_reset(actor, account.id)
    had = factor_of(account)
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.account_id == account.id))
    db.session.execute(delete(SecondFactor).where(SecondFactor.account_id == account.id))
    end_all_sessions(account, "second_factor_reset", now)
    audit.record("second_factor_reset", actor=actor, object_ref=f"account:{account.id}",
                 detail={"account": account.masked_phone, "enrolled": bool(had and had.confirmed_at)})
    db.session.expire_all()
