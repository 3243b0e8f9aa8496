"""Anyone can type a stranger's number: they must not be able to spend its SMS quota or lock its
owner out (短信轰炸, lockout as a weapon).

The rules (portal/accounts/codes.py): one client address gets at most half of a number's hourly
and daily codes; wrong tries count per code and address, and per number and address; the owner's
next correct code gives the number its quota back and ends every lockout. The graphic captcha
and the per-IP caps make each request cost the stranger (tests/test_captcha.py).
"""
from datetime import datetime, timedelta

import pytest
from flask import current_app

from portal.accounts.codes import CODE_GONE, CODE_LOCKED, CODE_SPENT, CodePolicy, CodeRefused, check_code, issue_code
from portal.extensions import db
from tests.conftest import csrf_token
from tests.test_login_privacy import answer

OWNER_PHONE = "13700001001"
STRANGER = "198.51.100.7"
ANOTHER_STRANGER = "198.51.100.99"
OWNER = "203.0.113.20"
HOUR_FULL = "该手机号获取验证码过于频繁，请1小时后再试"
DAY_FULL = "该手机号今日获取验证码次数已达上限，请明天再试"
T0 = datetime(2024, 3, 4, 9, 0, 0)


def wrong(code):
    return f"{(int(code) + 1) % 1_000_000:06d}"


# --- over HTTP: a stranger at one address, the owner at another -------------------------------------

class Person:
    """A browser at one client address."""

    def __init__(self, app, address):
        self.client, self.address = app.test_client(), address
        self.token = csrf_token(self.client)

    def post(self, path, **data):
        return self.client.post(path, data={**data, "csrf_token": self.token},
                                environ_base={"REMOTE_ADDR": self.address})

    def request_code(self, phone=OWNER_PHONE):
        return self.post("/login/code", phone=phone)

    def log_in(self, code, phone=OWNER_PHONE):
        return self.post("/login", phone=phone, code=code)


@pytest.fixture
def portal(app_factory, app, tree):
    """The default limits (5 an hour, 10 a day per number) without the one-a-minute pace, which
    would only make the test wait."""
    return app_factory(SMS_LIMIT_PER_MINUTE=100)


def text(response):
    return response.get_data(as_text=True)


def test_a_stranger_spends_at_most_half_of_the_hour_and_the_owner_still_logs_in(portal, outbox):
    stranger, owner = Person(portal, STRANGER), Person(portal, OWNER)
    assert [stranger.request_code().status_code for _ in range(3)] == [200, 200, 200]
    refused = stranger.request_code()
    assert refused.status_code == 422 and HOUR_FULL in text(refused)
    sent_before = len(outbox.messages(OWNER_PHONE))
    assert owner.request_code().status_code == 200
    assert len(outbox.messages(OWNER_PHONE)) == sent_before + 1
    assert owner.log_in(outbox.last_code(OWNER_PHONE)).status_code == 302


def test_the_owners_login_gives_the_number_its_quota_back(portal, outbox):
    stranger, owner = Person(portal, STRANGER), Person(portal, OWNER)
    for _ in range(3):
        stranger.request_code()
    owner.request_code()
    assert owner.request_code().status_code == 200  # the fifth code of the hour
    assert HOUR_FULL in text(owner.request_code())
    assert owner.log_in(outbox.last_code(OWNER_PHONE)).status_code == 302
    # Logged out later in the hour, the owner gets a code again: the stranger's three and the
    # owner's own earlier codes no longer count once the owner has proved the number.
    again = Person(portal, OWNER)
    assert again.request_code().status_code == 200
    assert again.log_in(outbox.last_code(OWNER_PHONE)).status_code == 302


def test_a_strangers_wrong_tries_do_not_spend_the_owners_code(portal, outbox):
    stranger, owner = Person(portal, STRANGER), Person(portal, OWNER)
    owner.request_code()
    code = outbox.last_code(OWNER_PHONE)
    answers = [text(stranger.log_in(wrong(code))) for _ in range(5)]
    assert "验证码错误，还可尝试4次" in answers[0] and CODE_SPENT in answers[-1]
    assert CODE_SPENT in text(stranger.log_in(code))  # spent for the stranger's address
    assert owner.log_in(code).status_code == 302


def test_a_lockout_holds_one_address_and_the_owners_login_ends_it(portal, outbox):
    """Ten wrong tries at one number from one address (two codes' worth) lock that address out
    for the hour, the right code included; the owner, on another network, logs in, and that
    ends the lockout."""
    office, phone = Person(portal, STRANGER), Person(portal, OWNER)
    for _ in range(2):
        office.request_code()
        code = outbox.last_code(OWNER_PHONE)
        for _ in range(5):
            office.log_in(wrong(code))
    office.request_code()
    locked = office.log_in(outbox.last_code(OWNER_PHONE))
    assert locked.status_code == 422 and CODE_LOCKED in text(locked)
    assert phone.request_code().status_code == 200
    assert phone.log_in(outbox.last_code(OWNER_PHONE)).status_code == 302
    assert office.request_code().status_code == 200
    assert office.log_in(outbox.last_code(OWNER_PHONE)).status_code == 302


def test_an_unknown_number_is_locked_out_in_the_same_words(portal, outbox):
    """A lockout must not tell a stranger which numbers have accounts."""
    answers = {}
    for phone in (OWNER_PHONE, "13712341001"):
        person = Person(portal, STRANGER)
        for _ in range(2):
            person.request_code(phone)
            for _ in range(5):
                person.log_in("000000", phone)
        answers[phone] = answer(person.log_in("000000", phone), phone)
    assert CODE_LOCKED in answers[OWNER_PHONE][2]
    assert answers[OWNER_PHONE] == answers["13712341001"]


# --- the rules with the clock in hand ---------------------------------------------------------------

@pytest.fixture
def policy(ctx):
    return CodePolicy.from_config(current_app.config)


def issue(policy, at, ip, phone=OWNER_PHONE):
    _, code = issue_code(policy, phone, "login", deliver=True, ip=ip, now=at)
    db.session.commit()
    return code


def attempt(policy, code, at, ip, phone=OWNER_PHONE):
    try:
        check_code(policy, phone, "login", code, ip=ip, now=at)
        return "accepted"
    except CodeRefused as refused:
        return refused.message
    finally:
        db.session.commit()


def test_the_share_of_one_address_is_half_the_quota_rounded_up(policy):
    assert (policy.address_share_hour, policy.address_share_day) == (3, 5)
    assert CodePolicy("k", per_hour=4, per_day=7).address_share_hour == 2


def test_a_stranger_cannot_spend_the_day(policy):
    for minute in (0, 1, 2):
        issue(policy, T0 + timedelta(minutes=minute), STRANGER)
    for minute in (0, 1):
        issue(policy, T0 + timedelta(hours=2, minutes=minute), STRANGER)
    with pytest.raises(CodeRefused) as refused:
        issue(policy, T0 + timedelta(hours=4), STRANGER)
    assert refused.value.message == DAY_FULL
    issue(policy, T0 + timedelta(hours=4), OWNER)


def test_a_lockout_ends_after_the_hour(policy):
    for start in (T0, T0 + timedelta(minutes=10)):
        code = issue(policy, start, STRANGER)
        for second in range(5):
            attempt(policy, wrong(code), start + timedelta(seconds=second + 1), STRANGER)
    code = issue(policy, T0 + timedelta(minutes=20), OWNER)
    assert attempt(policy, code, T0 + timedelta(minutes=20, seconds=30), STRANGER) == CODE_LOCKED
    code = issue(policy, T0 + timedelta(minutes=70), OWNER)
    # 09:00:01–09:10:05 are more than an hour ago at 10:10:30, so the address may try again
    assert attempt(policy, code, T0 + timedelta(minutes=70, seconds=30), STRANGER) == "accepted"


@pytest.mark.parametrize("addresses, owner_gets_in", [(3, True), (4, False)])
def test_many_addresses_together_void_a_code(policy, addresses, owner_gets_in):
    """Guessing from many addresses at once is bounded too: 20 wrong tries void the code (the
    owner then asks for a new one), fewer leave it to its owner."""
    code = issue(policy, T0, OWNER)
    for n in range(addresses):
        for second in range(5):
            attempt(policy, wrong(code), T0 + timedelta(seconds=10 * n + second), f"198.51.100.{n}")
    outcome = attempt(policy, code, T0 + timedelta(minutes=1), OWNER)
    assert outcome == ("accepted" if owner_gets_in else CODE_GONE)
