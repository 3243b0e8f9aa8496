import re
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import Boolean, DateTime, ForeignKey, Index, Integer, String, false
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from portal.accounts.kinds import ADMIN_ROLE_LABELS, AccountRole, FinanceLevel, UnitKind, role_label
from portal import personal_data
from portal.clock import utcnow
from portal.dbtypes import EncryptedText
from portal.extensions import db

MOBILE_DIGITS = re.compile(r"1[0-9]{10}", re.ASCII)


class Unit(db.Model):
    """An organisation (单位). Units form one tree shared by both workflows."""

    __tablename__ = "unit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20), index=True)
    #: the unit that opened this one and answers for it; None for the root and for
    #: self-registered enterprises
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"), index=True)
    #: the Guangdong prefecture the unit's figures are counted under; None for
    #: province-level units, including the separately listed province market (单列)
    city_code: Mapped[str | None] = mapped_column(ForeignKey("gd_city.code"), index=True)
    #: 统一社会信用代码 (GB 32100), required for enterprises
    credit_code: Mapped[str | None] = mapped_column(String(18), unique=True)
    #: province, city or county, for finance departments only
    finance_level: Mapped[str | None] = mapped_column(String(10))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("account.id", use_alter=True))

    parent = relationship("Unit", remote_side=[id], back_populates="children")
    children = relationship("Unit", back_populates="parent", order_by="Unit.id")
    city = relationship("GuangdongCity")
    accounts = relationship(
        "Account", back_populates="unit", order_by="Account.id", foreign_keys="Account.unit_id"
    )

    @property
    def kind_enum(self):
        return UnitKind(self.kind)

    @property
    def kind_label(self):
        label = self.kind_enum.label
        if self.kind == UnitKind.FINANCE and self.finance_level:
            return FinanceLevel(self.finance_level).label + label
        return label

    @property
    def city_label(self):
        return self.city.name if self.city else "省级"

    def __repr__(self):
        return f"<Unit {self.id} {self.kind} {self.name}>"


class FoundByPhone:
    """A table whose rows carry a number's blind index in `phone_key`."""

    @classmethod
    def with_phone(cls, phone):
        """The condition "this row's number is `phone`" (its blind index under any key)."""
        return cls.phone_key.in_(personal_data.phone_keys(phone))


class Account(FoundByPhone, UserMixin, db.Model):
    """A login: one mobile number, one unit (一个手机号对应一个单位账号)."""

    __tablename__ = "account"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), index=True)
    #: mainland mobile number as its 11 ASCII digits (validators.normalize_mobile), SM4-encrypted
    phone: Mapped[str] = mapped_column(EncryptedText("account.phone"))
    #: the number's blind index (personal_data.phone_key): one account per number, found by it
    phone_key: Mapped[str] = mapped_column(String(64), unique=True)
    #: the number as lists show it (138****1012), kept so that lists need no decryption
    phone_masked: Mapped[str] = mapped_column(String(11), index=True)
    #: contact name (联系人), SM4-encrypted
    name: Mapped[str] = mapped_column(EncryptedText("account.name"))
    #: the name's blind index, for a search by full name
    name_key: Mapped[str] = mapped_column(String(64), index=True)
    role: Mapped[str] = mapped_column(String(10), default=AccountRole.ADMIN)
    #: system, security or audit (kinds.AdminRole) for an account of the system unit, else None;
    #: one column, so that no account holds two of the three (三员分立)
    admin_role: Mapped[str | None] = mapped_column(String(10))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"))
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime)
    #: the address of that login, shown at the next one (上次登录信息)
    last_login_ip: Mapped[str | None] = mapped_column(String(45))
    #: when the account was last enabled again: a dormant account's period starts anew then
    reactivated_at: Mapped[datetime | None] = mapped_column(DateTime)

    unit = relationship(Unit, back_populates="accounts", foreign_keys=[unit_id])

    @property
    def is_active(self):
        return bool(self.active and self.unit.active)

    @property
    def is_admin(self):
        return self.role == AccountRole.ADMIN

    @property
    def role_label(self):
        if self.admin_role:
            return ADMIN_ROLE_LABELS[self.admin_role]
        return role_label(self.role, self.unit.kind)

    @property
    def masked_phone(self):
        return self.phone_masked

    @validates("phone")
    def _index_phone(self, _key, phone):
        # The database sees only ciphertext and can no longer check the spelling (a CHECK did).
        if not (isinstance(phone, str) and MOBILE_DIGITS.fullmatch(phone)):
            raise ValueError("an account's number is stored as its 11 ASCII digits (validators.normalize_mobile)")
        self.phone_key, self.phone_masked = personal_data.phone_key(phone), mask_phone(phone)
        return phone

    @validates("name")
    def _index_name(self, _key, name):
        self.name_key = personal_data.name_key(name)
        return name

    def __repr__(self):
        return f"<Account {self.id} {self.masked_phone}>"


def mask_phone(phone):
    return f"{phone[:3]}****{phone[-4:]}" if phone and len(phone) == 11 else phone


class LoginSession(db.Model):
    """A server-side session: logout, disabling and timeouts end it here, not in the cookie."""

    __tablename__ = "login_session"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: SHA-256 of the random token kept in the signed cookie
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime)
    #: logout, idle, absolute, disabled
    end_reason: Mapped[str | None] = mapped_column(String(20))
    ip: Mapped[str | None] = mapped_column(String(45))
    #: the login passed the SMS code and still owes the second factor (accounts/second_factor.py)
    second_factor_pending: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    second_factor_at: Mapped[datetime | None] = mapped_column(DateTime)
    #: wrong second-factor codes in this session; too many end it
    second_factor_failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    account = relationship(Account)


class SmsCode(FoundByPhone, db.Model):
    """A one-time code sent by SMS; only its keyed hash is kept."""

    __tablename__ = "sms_code"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: the number's blind index (personal_data.phone_key): the number itself is not kept here
    phone_key: Mapped[str] = mapped_column(String(64), index=True)
    #: login or register
    purpose: Mapped[str] = mapped_column(String(10))
    #: HMAC-SM3 of the code under the app's secret key
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    used_at: Mapped[datetime | None] = mapped_column(DateTime)
    #: set when a newer code or too many wrong tries made this one void
    voided_at: Mapped[datetime | None] = mapped_column(DateTime)
    #: whether a message actually went out (not for unknown numbers at login)
    delivered: Mapped[bool] = mapped_column(Boolean, default=True)
    ip: Mapped[str | None] = mapped_column(String(45))


class CodeFailure(FoundByPhone, db.Model):
    """One wrong try at an SMS code, with the address it came from.

    Tries are limited per code *and address* and per number *and address*, so that a stranger's
    wrong tries from one network never lock the owner out on another; the owner's next correct
    code (SmsCode.used_at) ends the count for the number.
    """

    __tablename__ = "code_failure"
    __table_args__ = (Index("ix_code_failure_phone_key_ip_at", "phone_key", "ip", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code_id: Mapped[int] = mapped_column(ForeignKey("sms_code.id", ondelete="CASCADE"), index=True)
    #: the number's blind index, as in SmsCode
    phone_key: Mapped[str] = mapped_column(String(64))
    #: the client's address; "" when the caller knows none (commands, tests)
    ip: Mapped[str] = mapped_column(String(45))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class CaptchaUse(db.Model):
    """A graphic captcha already checked, right or wrong: the session that carried it is signed,
    not stored, so a copy of the cookie could otherwise be replayed. Rows older than a captcha's
    life are removed, since an expired captcha is refused anyway."""

    __tablename__ = "captcha_use"

    #: the random nonce the captcha was issued with
    nonce: Mapped[str] = mapped_column(String(32), primary_key=True)
    used_at: Mapped[datetime] = mapped_column(DateTime, index=True)
