"""One-time SMS codes: format, storage, expiry, single use, lockout and sending limits.

The clock is an argument (`now=`), so every boundary is tested exactly.
"""
import hashlib
import re
from datetime import datetime, timedelta

import pytest
from flask import current_app
from sqlalchemy import inspect, select

from portal.accounts.codes import CODE_GONE, CodePolicy, CodeRefused, check_code, issue_code
from portal.accounts.models import SmsCode
from portal.extensions import db

T0 = datetime(2024, 3, 4, 9, 0, 0)
PHONE = "13800138000"
OTHER = "13900139000"


@pytest.fixture
def policy(ctx):
    return CodePolicy.from_config(current_app.config)


def issue(policy, phone=PHONE, at=T0, purpose="login", deliver=True, ip=None):
    row, code = issue_code(policy, phone, purpose, deliver=deliver, now=at, ip=ip)
    db.session.commit()
    return row, code


def check(policy, code, at, phone=PHONE, purpose="login"):
    """Check a code as the login view does: the outcome is committed either way."""
    try:
        return check_code(policy, phone, purpose, code, now=at)
    finally:
        db.session.commit()


def refusal(policy, code, at, **kw):
    return refused_check(policy, code, at, **kw).message


def refused_check(policy, code, at, **kw):
    """The refusal itself: its message for the person, its reason for the audit trail."""
    with pytest.raises(CodeRefused) as info:
        check(policy, code, at, **kw)
    return info.value


def wrong(code):
    return f"{(int(code) + 1) % 1_000_000:06d}"


# --- format and storage -------------------------------------------------------------------

def test_codes_are_six_digits(policy):
    for i in range(30):
        _, code = issue(policy, phone=f"1380000{i:04d}")
        assert re.fullmatch(r"\d{6}", code)


def test_defaults_from_config(policy):
    assert policy.ttl == timedelta(minutes=5)
    assert (policy.max_attempts, policy.per_minute, policy.per_hour, policy.per_day) == (5, 1, 5, 10)


def test_plain_code_is_stored_nowhere(policy):
    row, code = issue(policy)
    db.session.expire_all()
    stored = db.session.get(SmsCode, row.id)
    for column in inspect(SmsCode).columns:
        value = getattr(stored, column.key)
        if column.key == "phone":
            assert value == PHONE
            continue
        assert code not in str(value), column.key
    assert re.fullmatch(r"[0-9a-f]{64}", stored.code_hash)
    # Not a bare digest of the code that anyone could reverse by trying a million values.
    assert stored.code_hash not in {
        hashlib.sha256(code.encode()).hexdigest(),
        hashlib.sha256(f"login:{PHONE}:{code}".encode()).hexdigest(),
    }


def test_hash_is_keyed_by_the_secret(policy):
    _, code = issue(policy)
    other_key = CodePolicy(secret_key="another-secret-key")
    assert refusal(other_key, code, T0 + timedelta(seconds=10)).startswith("验证码错误")
    assert check(policy, code, T0 + timedelta(seconds=20)).used_at is not None


# --- expiry and single use ------------------------------------------------------------------

def test_code_accepted_at_4_59(policy):
    _, code = issue(policy)
    row = check(policy, code, T0 + timedelta(minutes=4, seconds=59))
    assert row.used_at == T0 + timedelta(minutes=4, seconds=59)


# Expired, used, voided and never-requested codes get one answer (CODE_GONE): "already used"
# would tell a stranger that the number has an account that logged in.

def test_code_refused_at_5_00(policy):
    _, code = issue(policy)
    refused = refused_check(policy, code, T0 + timedelta(minutes=5))
    assert (refused.message, refused.reason) == (CODE_GONE, "expired")


def test_code_refused_long_after(policy):
    _, code = issue(policy)
    assert refused_check(policy, code, T0 + timedelta(hours=3)).reason == "expired"


def test_code_is_single_use(policy):
    _, code = issue(policy)
    check(policy, code, T0 + timedelta(seconds=30))
    refused = refused_check(policy, code, T0 + timedelta(seconds=40))
    assert (refused.message, refused.reason) == (CODE_GONE, "used")


def test_empty_code_and_no_code_requested(policy):
    refused = refused_check(policy, "123456", T0)
    assert (refused.message, refused.reason) == (CODE_GONE, "none")
    issue(policy)
    assert refusal(policy, "   ", T0 + timedelta(seconds=5)) == "请输入短信验证码"


def test_code_typed_with_full_width_digits_or_spaces_is_read(policy):
    _, code = issue(policy)
    typed = " ".join([code[:3], code[3:]]).translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    assert check(policy, typed, T0 + timedelta(seconds=10)).used_at is not None


def test_missing_and_absurd_codes_are_answered_not_crashed(policy):
    _, code = issue(policy)
    assert refusal(policy, None, T0 + timedelta(seconds=5)) == "请输入短信验证码"
    assert refusal(policy, "1" * 10_000, T0 + timedelta(seconds=6)) == "验证码错误，还可尝试4次"
    assert refusal(policy, "１²３", T0 + timedelta(seconds=7)) == "验证码错误，还可尝试3次"
    assert check(policy, code, T0 + timedelta(seconds=8)).used_at is not None


def test_code_is_tied_to_number_and_purpose(policy):
    _, code = issue(policy)
    assert refusal(policy, code, T0 + timedelta(seconds=5), phone=OTHER) == CODE_GONE
    assert refusal(policy, code, T0 + timedelta(seconds=5), purpose="register") == CODE_GONE
    assert check(policy, code, T0 + timedelta(seconds=10)).used_at is not None


def test_newer_code_voids_the_older(policy):
    old_row, old = issue(policy)
    new_row, new = issue(policy, at=T0 + timedelta(minutes=1))
    if old == new:  # one chance in a million: the old code would then look valid
        pytest.skip("the two random codes happen to be equal")
    db.session.expire_all()
    assert db.session.get(SmsCode, old_row.id).voided_at == T0 + timedelta(minutes=1)
    assert refusal(policy, old, T0 + timedelta(minutes=1, seconds=10)).startswith("验证码错误")
    assert check(policy, new, T0 + timedelta(minutes=1, seconds=20)).id == new_row.id


def test_newer_code_for_another_purpose_leaves_the_login_code(policy):
    _, login_code = issue(policy)
    issue(policy, at=T0 + timedelta(minutes=1), purpose="register")
    assert check(policy, login_code, T0 + timedelta(minutes=2)).purpose == "login"


# --- wrong tries ----------------------------------------------------------------------------

def test_five_wrong_tries_void_the_code(policy):
    _, code = issue(policy)
    messages = [refusal(policy, wrong(code), T0 + timedelta(seconds=10 + i)) for i in range(5)]
    assert messages == [
        "验证码错误，还可尝试4次",
        "验证码错误，还可尝试3次",
        "验证码错误，还可尝试2次",
        "验证码错误，还可尝试1次",
        "验证码错误次数过多，已失效，请重新获取",
    ]
    # Now even the right code is refused.
    assert "错误次数过多" in refusal(policy, code, T0 + timedelta(seconds=30))


def test_right_code_after_four_wrong_tries_still_works(policy):
    _, code = issue(policy)
    for i in range(4):
        refusal(policy, wrong(code), T0 + timedelta(seconds=10 + i))
    assert check(policy, code, T0 + timedelta(seconds=20)).used_at is not None


def test_wrong_tries_are_remembered_across_transactions(policy):
    row, code = issue(policy)
    refusal(policy, wrong(code), T0 + timedelta(seconds=10))
    db.session.expire_all()
    assert db.session.get(SmsCode, row.id).failed_attempts == 1


def test_new_code_after_lockout_works(policy):
    _, code = issue(policy)
    for i in range(5):
        refusal(policy, wrong(code), T0 + timedelta(seconds=10 + i))
    _, fresh = issue(policy, at=T0 + timedelta(minutes=2))
    assert check(policy, fresh, T0 + timedelta(minutes=2, seconds=10)).used_at is not None


# --- undelivered codes (numbers with no account, at login) ------------------------------------

def test_undelivered_code_never_verifies(policy):
    _, code = issue(policy, deliver=False)
    # Even the right digits are not accepted: nobody received them.
    assert refusal(policy, code, T0 + timedelta(seconds=10)) == "验证码错误，还可尝试4次"
    for i in range(3):
        refusal(policy, code, T0 + timedelta(seconds=20 + i))
    assert "错误次数过多" in refusal(policy, code, T0 + timedelta(seconds=30))


def test_undelivered_code_answers_like_a_delivered_one(policy):
    """Probing a number must not tell whether it has an account."""
    _, real = issue(policy, phone=PHONE, deliver=True)
    _, ghost = issue(policy, phone=OTHER, deliver=False)
    at = T0 + timedelta(seconds=10)
    assert refusal(policy, wrong(real), at, phone=PHONE) == refusal(policy, wrong(ghost), at, phone=OTHER)


# --- sending limits -------------------------------------------------------------------------

def refused_issue(policy, at, phone=PHONE, deliver=True, ip=None):
    with pytest.raises(CodeRefused) as info:
        issue_code(policy, phone, "login", deliver=deliver, now=at, ip=ip)
    return info.value.message


def address(n):
    """A client address of its own: the number-wide limits below are reached from many addresses,
    since one address may use only half of them (tests/test_owner_lockout.py)."""
    return f"10.0.0.{n}"


def test_one_code_per_minute(policy):
    issue(policy)
    assert refused_issue(policy, T0 + timedelta(seconds=59)) == "验证码已发送，请1分钟后再重新获取"
    # The limit frees up once the minute has passed.
    issue(policy, at=T0 + timedelta(seconds=60))


def test_refused_request_keeps_the_earlier_code(policy):
    _, code = issue(policy)
    refused_issue(policy, T0 + timedelta(seconds=30))
    assert check(policy, code, T0 + timedelta(seconds=40)).used_at is not None


def test_per_minute_limit_is_per_number(policy):
    issue(policy, phone=PHONE)
    issue(policy, phone=OTHER)


def test_five_codes_per_hour(policy):
    for i in range(5):
        issue(policy, at=T0 + timedelta(minutes=i), ip=address(i))
    assert refused_issue(policy, T0 + timedelta(minutes=5), ip=address(50)) == \
        "该手机号获取验证码过于频繁，请1小时后再试"
    assert "过于频繁" in refused_issue(policy, T0 + timedelta(minutes=59, seconds=59), ip=address(51))
    # An hour after the first one, one more is allowed, and then the hour is full again.
    issue(policy, at=T0 + timedelta(minutes=60), ip=address(52))
    assert "过于频繁" in refused_issue(policy, T0 + timedelta(minutes=60, seconds=30), ip=address(53))
    # The hour slides on: at 61:00 the code of 1:00 no longer counts.
    issue(policy, at=T0 + timedelta(minutes=61), ip=address(54))


def test_ten_codes_per_day(policy):
    sent = [T0 + timedelta(minutes=i) for i in range(5)] + [T0 + timedelta(hours=2, minutes=i) for i in range(5)]
    for i, at in enumerate(sent):
        issue(policy, at=at, ip=address(i))
    assert refused_issue(policy, T0 + timedelta(hours=5), ip=address(50)) == "该手机号今日获取验证码次数已达上限，请明天再试"
    assert "今日" in refused_issue(policy, T0 + timedelta(hours=23, minutes=59), ip=address(51))
    # 24 hours after the first code the day frees up one place at a time.
    issue(policy, at=T0 + timedelta(days=1), ip=address(52))
    assert "今日" in refused_issue(policy, T0 + timedelta(days=1, seconds=30), ip=address(53))


def test_purposes_share_the_limits(policy):
    issue(policy, purpose="register")
    assert "1分钟" in refused_issue(policy, T0 + timedelta(seconds=30))


@pytest.mark.parametrize("deliver", [True, False])
def test_limits_are_the_same_for_registered_and_unregistered_numbers(policy, deliver):
    """A code for a number without an account is counted exactly like a sent one."""
    phone = PHONE if deliver else OTHER
    issue(policy, phone=phone, deliver=deliver)
    assert refused_issue(policy, T0 + timedelta(seconds=30), phone=phone, deliver=deliver) == \
        "验证码已发送，请1分钟后再重新获取"
    for i in range(1, 5):
        issue(policy, phone=phone, at=T0 + timedelta(minutes=i), deliver=deliver, ip=address(i))
    assert refused_issue(policy, T0 + timedelta(minutes=5), phone=phone, deliver=deliver, ip=address(50)) == \
        "该手机号获取验证码过于频繁，请1小时后再试"
    rows = db.session.scalars(select(SmsCode).where(SmsCode.with_phone(phone))).all()
    assert len(rows) == 5
    assert all(row.delivered is deliver for row in rows)


def test_limits_match_between_an_account_holder_and_a_stranger(tree, policy):
    """The tree's city office admin (registered) and an unknown number hit the same walls."""
    from portal.accounts.models import Account

    registered = db.session.scalar(select(Account.phone).where(Account.with_phone("13700001001")))
    assert registered
    for phone, deliver in ((registered, True), ("13612345678", False)):
        answers = []
        for minute in range(7):
            at = T0 + timedelta(minutes=minute)
            try:
                issue_code(policy, phone, "login", deliver=deliver, now=at, ip=address(minute))
                answers.append("sent")
            except CodeRefused as refused:
                answers.append(refused.message)
        db.session.commit()
        assert answers == ["sent"] * 5 + ["该手机号获取验证码过于频繁，请1小时后再试"] * 2




# --- two requests at the same moment --------------------------------------------------------

def _try(policy, typed):
    try:
        check_code(policy, PHONE, "login", typed, now=T0 + timedelta(seconds=10))
        return "accepted"
    except CodeRefused as refused:
        return refused.message


def two_requests_at_once(policy, typed):
    """Two login requests check a code at the same moment, each in its own thread with its own
    database session and transaction (as two gunicorn workers would), released together."""
    import threading

    app = current_app._get_current_object()
    db.session.commit()  # the code must be visible to the other connections
    start = threading.Barrier(2)
    outcomes, failures = [], []

    def request():
        try:
            with app.app_context():
                start.wait()
                outcome = _try(policy, typed)
                db.session.commit()
                outcomes.append(outcome)
        except Exception as exc:  # a failure in a thread must fail the test, not vanish
            failures.append(exc)

    threads = [threading.Thread(target=request) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not failures, failures
    assert len(outcomes) == 2
    db.session.expire_all()
    return outcomes


def test_simultaneous_wrong_tries_are_all_counted(policy):
    """Wrong tries sent in parallel must each count, or the 5-try limit can be outrun."""
    row, code = issue(policy)
    outcomes = two_requests_at_once(policy, wrong(code))
    assert all(o.startswith("验证码错误") for o in outcomes)
    assert db.session.get(SmsCode, row.id).failed_attempts == 2


def test_simultaneous_uses_of_one_code_accept_it_once(policy):
    """A code is single use even when it is submitted twice at the same moment."""
    _, code = issue(policy)
    outcomes = two_requests_at_once(policy, code)
    assert sorted(outcomes) == ["accepted", CODE_GONE]
