"""The second factor's rules (portal/accounts/second_factor.py): who needs it, enrolment with a
confirmation code, codes never accepted twice, recovery codes once each, the session's wrong
tries, and the security administrator's reset."""
from datetime import datetime, timedelta, timezone

import pyotp
import pytest
from sqlalchemy import select

from portal import crypto
from portal.accounts import second_factor as sf
from portal.accounts.models import Account, LoginSession
from portal.accounts.sessions import resolve_session, start_session
from portal.audit import AuditEvent
from portal.extensions import db

#: the middle of a 30-second step, so that ± one step is exactly the previous and next
NOW = datetime(2026, 11, 30, 3, 0, 15)


def account(tree, role):
    return db.session.get(Account, getattr(tree, role).id)


def code_at(secret, when):
    return pyotp.TOTP(secret).at(when.replace(tzinfo=timezone.utc))


def enrolled(person, now=NOW):
    secret, sealed = sf.start_enrolment(person)
    codes = sf.confirm_enrolment(person, sealed, code_at(secret, now), now=now)
    return secret, codes


def actions(person):
    return [row.action for row in db.session.scalars(
        select(AuditEvent).where(AuditEvent.object_ref == f"account:{person.id}").order_by(AuditEvent.id))]


def test_who_must_have_a_second_factor(ctx, tree):
    required = {"system", "security_admin", "audit_admin", "province", "province_finance", "gz_finance",
                "county_finance"}
    for role in vars(tree):
        assert sf.requires_second_factor(account(tree, role)) is (role in required), role
    # Optional for everyone else, and owed at login once they have enrolled.
    office = account(tree, "gz_office")
    assert not sf.owed(office)
    enrolled(office)
    assert sf.owed(office)


def test_enrolment_stores_the_secret_encrypted_and_ten_hashed_recovery_codes(ctx, tree):
    person = account(tree, "province")
    secret, sealed = sf.start_enrolment(person)
    assert sf.start_enrolment(person, sealed) == (secret, sealed)  # a reload shows the same QR code
    assert secret not in sealed
    other, _ = sf.start_enrolment(account(tree, "gz_finance"), sealed)
    assert other != secret  # a token sealed to another account is not taken
    assert not sf.is_enrolled(person) and sf.factor_of(person) is None  # nothing stored before the code
    assert sf.provisioning_uri(person, secret).startswith("otpauth://totp/")
    assert "issuer=%E6%B6%88%E8%B4%B9%E5%B8%AE%E6%89%B6%E9%97%A8%E6%88%B7" in sf.provisioning_uri(person, secret)

    codes = sf.confirm_enrolment(person, sealed, code_at(secret, NOW), now=NOW)
    row = sf.factor_of(person)
    assert secret not in row.secret and row.secret.startswith("sm4gcm.")
    assert crypto.decrypt(row.secret, context=sf.SECRET_CONTEXT) == secret
    assert sf.is_enrolled(person) and len(codes) == len(set(codes)) == 10
    assert all(len(code) == 11 and code[5] == "-" for code in codes)
    stored = set(db.session.scalars(select(sf.RecoveryCode.code_hash).where(sf.RecoveryCode.account_id == person.id)))
    assert len(stored) == 10 and not any(code.replace("-", "") in digest for code in codes for digest in stored)
    assert actions(person) == ["second_factor_enrolled"]
    with pytest.raises(sf.SecondFactorError, match="安全管理员"):
        sf.start_enrolment(person)  # only a reset replaces a confirmed factor
    with pytest.raises(sf.SecondFactorError):
        sf.confirm_enrolment(person, sealed, code_at(secret, NOW + timedelta(seconds=30)), now=NOW)


def test_enrolment_needs_the_right_code(ctx, tree):
    person = account(tree, "province")
    secret, sealed = sf.start_enrolment(person)
    wrong = f"{(int(code_at(secret, NOW)) + 1) % 1000000:06d}"
    for code in (wrong, code_at(secret, NOW + timedelta(minutes=2)), "", "abcdef"):
        with pytest.raises(sf.SecondFactorError):
            sf.confirm_enrolment(person, sealed, code, now=NOW)
    with pytest.raises(sf.SecondFactorError):
        sf.confirm_enrolment(person, sealed[:-2] + "AA", code_at(secret, NOW), now=NOW)  # a changed token
    assert not sf.is_enrolled(person)


def test_a_code_passes_one_step_either_side_and_never_twice(ctx, tree):
    person = account(tree, "province")
    secret, _ = enrolled(person, now=NOW - timedelta(minutes=5))
    step = timedelta(seconds=30)
    with pytest.raises(sf.SecondFactorError) as too_old:
        sf.verify(person, code_at(secret, NOW - 2 * step), now=NOW)
    assert too_old.value.reason == "wrong_code"
    assert sf.verify(person, code_at(secret, NOW - step), now=NOW) == "totp"  # a slow phone clock
    assert sf.verify(person, code_at(secret, NOW), now=NOW) == "totp"
    with pytest.raises(sf.SecondFactorError) as reused:
        sf.verify(person, code_at(secret, NOW), now=NOW)
    assert reused.value.reason == "reused_code" and reused.value.message == sf.REUSED_CODE
    # An earlier step, still in the window, is refused once a later one was accepted.
    with pytest.raises(sf.SecondFactorError):
        sf.verify(person, code_at(secret, NOW - step), now=NOW + step)
    assert sf.verify(person, code_at(secret, NOW + step), now=NOW) == "totp"  # a fast phone clock


def test_the_confirmation_code_cannot_be_used_again_to_log_in(ctx, tree):
    person = account(tree, "gz_finance")
    secret, _ = enrolled(person)
    with pytest.raises(sf.SecondFactorError, match="已使用"):
        sf.verify(person, code_at(secret, NOW), now=NOW)


def test_a_recovery_code_works_once_however_it_is_typed(ctx, tree):
    person = account(tree, "province")
    _, codes = enrolled(person)
    typed = "  " + codes[0].lower().replace("-", " ") + " "
    assert sf.verify(person, typed, now=NOW) == "recovery_code"
    assert sf.recovery_codes_left(person) == 9
    with pytest.raises(sf.SecondFactorError) as again:
        sf.verify(person, codes[0], now=NOW)
    assert again.value.message == sf.WRONG_RECOVERY
    full_width = codes[1].translate({ord(c): ord(c) + 0xFEE0 for c in codes[1] if c.isalnum()})
    assert sf.verify(person, full_width, now=NOW) == "recovery_code"
    assert actions(person)[-2:] == ["second_factor_recovery_used", "second_factor_recovery_used"]
    for junk in ("", "abc", "1234567", "ZZZZZ-ZZZZZ", "<script>", "１２３４５６７８９０"):
        with pytest.raises(sf.SecondFactorError):
            sf.verify(person, junk, now=NOW)


def test_recovery_codes_survive_a_key_rotation(app_factory, tree, app):
    with app.app_context():
        person = account(tree, "province")
        _, codes = enrolled(person)
        db.session.commit()
    old = app.config["DATA_KEYS"]
    rotated = app_factory(DATA_KEYS=f"new1:{'7e' * 16},{old}")
    with rotated.app_context():
        person = account(tree, "province")
        assert sf.verify(person, codes[0], now=NOW) == "recovery_code"
        assert sf.secret_of(sf.factor_of(person))  # the old key still opens the secret


def test_five_wrong_codes_end_the_session(ctx, tree):
    person = account(tree, "province")
    token = start_session(person, now=NOW, second_factor_pending=True)
    db.session.flush()
    live = db.session.scalar(select(LoginSession).where(LoginSession.account_id == person.id))
    assert live.second_factor_pending
    for attempt in range(1, sf.MAX_FAILURES):
        assert sf.fail_session(live, "wrong_code", now=NOW) is False
    assert sf.fail_session(live, "wrong_code", now=NOW) is True
    assert live.ended_at == NOW and live.end_reason == "second_factor"
    assert resolve_session(token, idle=timedelta(minutes=30), absolute=timedelta(hours=12), now=NOW) is None
    assert actions(person)[-2:] == ["second_factor_failed", "second_factor_locked"]


def test_passing_marks_the_session(ctx, tree):
    person = account(tree, "province")
    start_session(person, now=NOW, second_factor_pending=True)
    db.session.flush()
    live = db.session.scalar(select(LoginSession).where(LoginSession.account_id == person.id))
    sf.pass_session(live, "totp", now=NOW)
    assert not live.second_factor_pending and live.second_factor_at == NOW
    assert actions(person)[-1] == "second_factor_passed"


def test_only_the_security_administrator_resets_and_not_their_own(ctx, tree):
    security = account(tree, "security_admin")
    person = account(tree, "province")
    enrolled(person)
    start_session(person, now=NOW)
    for refused in (account(tree, "system"), person, account(tree, "gz_office")):
        with pytest.raises(sf.SecondFactorError):
            sf.reset(refused, person)
    enrolled(security)
    with pytest.raises(sf.SecondFactorError):
        sf.reset(security, security)
    assert sf.is_enrolled(person) and sf.is_enrolled(security)

    sf.reset(security, person, now=NOW)
    assert sf.factor_of(person) is None and sf.recovery_codes_left(person) == 0
    sessions = db.session.scalars(select(LoginSession).where(LoginSession.account_id == person.id)).all()
    assert sessions and all(row.end_reason == "second_factor_reset" for row in sessions)
    rows = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "second_factor_reset")
                              .order_by(AuditEvent.id)).all()
    assert [row.result for row in rows] == ["denied"] * 4 + ["ok"]
    assert rows[-1].account_id == security.id and rows[-1].object_ref == f"account:{person.id}"
    # Enrolment starts afresh, with a new secret.
    assert sf.start_enrolment(person)[0]
