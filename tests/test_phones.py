"""One phone, one account: one reading of a mobile number at every entry point, stored as its
11 ASCII digits, unique in the database, and the migration that gets existing rows there."""
import importlib.util
import re
from pathlib import Path

import phonenumbers
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from portal.accounts import service
from portal.accounts.kinds import UnitKind
from portal.accounts.models import Account, SmsCode
from portal.accounts.validators import mobile_digits, normalize_mobile
from portal.errors import ValidationFailed
from portal.extensions import db
from portal.crypto import encrypt
from portal.personal_data import phone_key
from portal.reservations.form_rules import check_contacts
from tests.conftest import csrf_token

MIGRATION = Path(__file__).resolve().parent.parent / "migrations" / "versions" / "0005_normalised_unique_phones.py"
PHONE_TAKEN = "该手机号已开通账号（一个手机号只能对应一个单位账号）"
GZ_OFFICE = "13700001001"
GZ_MERCHANT = "13700001012"
FULL_WIDTH = str.maketrans("0123456789+", "０１２３４５６７８９＋")

# --- the normaliser: properties ------------------------------------------------------------------

#: three-digit prefixes of mainland mobile networks (China Mobile, Unicom, Telecom, Broadnet)
PREFIXES = ["130", "133", "135", "138", "139", "147", "150", "152", "158", "166", "176", "177", "180", "186",
            "188", "189", "191", "192", "198", "199"]


@st.composite
def valid_mobiles(draw):
    number = draw(st.sampled_from(PREFIXES)) + draw(st.text("0123456789", min_size=8, max_size=8))
    assume(phonenumbers.is_valid_number(phonenumbers.parse(number, "CN")))
    return number


SEPARATORS = [" ", "\u3000", "\t", "-", "－", "\u2010", "\u2013", "\u2014", "\u2212", ".", "．", "\u200b", "\ufeff"]
PREFIX_SPELLINGS = ["", "+86", "+86 ", "＋８６", "0086", "0086-", "86", "(+86)", "（+86）", "+86-"]


@st.composite
def typed_variants(draw, number):
    """The number as a person or a spreadsheet might give it: some digits full-width, separators
    between any digits, a country prefix, spaces around."""
    chars = []
    for digit in number:
        chars.append(digit.translate(FULL_WIDTH) if draw(st.booleans()) else digit)
        if draw(st.integers(0, 3)) == 0:
            chars.append(draw(st.sampled_from(SEPARATORS)))
    prefix = draw(st.sampled_from(PREFIX_SPELLINGS))
    if draw(st.booleans()):
        prefix = prefix.translate(FULL_WIDTH)
    return draw(st.sampled_from(["", " ", "\u3000"])) + prefix + "".join(chars) + draw(st.sampled_from(["", " ", "\n"]))


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_every_spelling_of_a_valid_number_normalises_to_its_11_ascii_digits(data):
    number = data.draw(valid_mobiles())
    typed = data.draw(typed_variants(number))
    assert normalize_mobile(typed) == number


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_any_text_gives_none_or_11_ascii_digits_and_never_raises(typed):
    result = normalize_mobile(typed)
    assert result is None or re.fullmatch(r"1[0-9]{10}", result)
    assert result is None or normalize_mobile(result) == result  # idempotent


@settings(max_examples=100, deadline=None)
@given(valid_mobiles(), st.sampled_from(["٠١٢٣٤٥٦٧٨٩", "०१२३४५६७८९", "০১২৩৪৫৬৭৮৯"]), st.integers(1, 10))
def test_digits_of_other_scripts_are_refused(number, script, position):
    """NFKC leaves Arabic-Indic or Devanagari digits as they are: they are not ASCII digits."""
    typed = number[:position] + script[int(number[position])] + number[position + 1:]
    assert normalize_mobile(typed) is None


@settings(max_examples=100, deadline=None)
@given(valid_mobiles(), st.integers(1, 3))
def test_a_digit_more_or_less_is_refused(number, cut):
    assert normalize_mobile(number[:-cut]) is None
    assert normalize_mobile(number + "0" * cut) is None


@pytest.mark.parametrize("typed", [
    "1３８００１３８０００",          # the case: full-width digits after a 1
    "１３８００１３８０００",
    "+86 138 0013 8000",
    "0086 138-0013-8000",
    "86 138 0013 8000",
    "(+86) 138.0013.8000",
    "（＋８６）１３８－００１３－８０００",
    "138\u200b0013\u20138000",
])
def test_spellings_of_one_number(typed):
    assert normalize_mobile(typed) == "13800138000"


@pytest.mark.parametrize("typed", [
    "86138001380",            # 11 digits starting 86: not a prefix, not a mobile
    "008613800138000" + "0",
    "+8613800138000" + "1",
    "1" * 41,                 # longer than any spelling of a number: not read at all
    "13800138000" + " " * 40,
    "020-83133000",
    "12000000000",            # no such network
    "１２０００００００００",
    13800138000,              # not text
])
def test_not_mobile_numbers(typed):
    assert normalize_mobile(typed) is None


def test_shape_reading_leaves_the_number_plan_to_phonenumbers():
    assert mobile_digits("１２０００００００００") == "12000000000"
    assert normalize_mobile("１２０００００００００") is None


# --- the database refuses what the service would --------------------------------------------------

def _account_row(unit_id, phone):
    # Core, past the mapped class: what a direct write to the table would do.
    return insert(Account).values(unit_id=unit_id, phone=encrypt(phone, context="account.phone"),
                                  phone_key=phone_key(phone), phone_masked=phone[:3] + "****" + phone[-4:],
                                  name=encrypt("直接写入", context="account.name"), name_key="0" * 64,
                                  role="admin", active=True)


def test_database_refuses_a_second_account_with_the_same_number(ctx, tree):
    """The number is encrypted, so its blind index carries the unique constraint."""
    with pytest.raises(IntegrityError):
        db.session.execute(_account_row(tree.gz_market.unit_id, GZ_MERCHANT))
    db.session.rollback()


@pytest.mark.parametrize("phone", ["1３７００００１０１２", "137 0000 1099", "+8613700001099", "1370000109", None])
def test_an_account_refuses_a_number_that_is_not_11_ascii_digits(ctx, tree, phone):
    # The database sees only ciphertext: the mapped class is where a stray spelling is stopped.
    with pytest.raises(ValueError):
        Account(unit_id=tree.gz_market.unit_id, phone=phone, name="直接写入")


def test_a_number_taken_at_the_same_moment_is_a_message_not_a_crash(ctx, tree, monkeypatch):
    """Two requests open accounts for one number at once: both pass the look-up, and the unique
    constraint refuses the second at the flush, answered like any taken number."""
    office = db.session.get(Account, tree.gz_office.id)
    monkeypatch.setattr(service, "phone_taken", lambda *args, **kwargs: False)
    with pytest.raises(ValidationFailed) as refused:
        service.open_unit(office, kind=UnitKind.MARKET, name="同时开通的市场", contact_name="张三", phone=GZ_MERCHANT)
    assert refused.value.errors == {"phone": PHONE_TAKEN}
    db.session.rollback()
    assert db.session.scalar(select(func.count(Account.id)).where(Account.with_phone(GZ_MERCHANT))) == 1


# --- every entry point reads the number the same way ----------------------------------------------

@pytest.mark.parametrize("spelling", ["1３７００００１０１２", "137-0000-1012", "+86 13700001012", "８６１３７００００１０１２"])
def test_service_refuses_a_spelling_of_a_taken_number(ctx, tree, spelling):
    office = db.session.get(Account, tree.gz_office.id)
    for operation in (
        lambda: service.open_unit(office, kind=UnitKind.MARKET, name="第二个市场", contact_name="张三", phone=spelling),
        lambda: service.add_account(office, office.unit, contact_name="张三", phone=spelling),
        lambda: service.edit_contact(office, db.session.get(Account, tree.gz_reviewer.id), contact_name="审核员",
                                     phone=spelling),
        lambda: service.register_enterprise(name="新企业有限公司", credit_code="91110000600037341L",
                                            contact_name="张三", phone=spelling, city_code="440100"),
    ):
        with pytest.raises(ValidationFailed) as refused:
            operation()
        assert refused.value.errors == {"phone": PHONE_TAKEN}
        db.session.rollback()


def test_numbers_are_stored_as_11_ascii_digits(ctx, tree):
    office = db.session.get(Account, tree.gz_office.id)
    account = service.add_account(office, office.unit, contact_name="张三", phone="（＋８６）１３６－００００－０００１")
    db.session.commit()
    assert db.session.scalar(select(Account.phone).where(Account.id == account.id)) == "13600000001"


def test_reserved_share_contact_mobiles_are_stored_normalised():
    values, errors = check_contacts({"contact_name": "王老师", "contact_mobile": "１３６ ０００００００１",
                                     "union_contact_mobile": "+86-136-0000-0002"})
    assert errors == {}
    assert (values["contact_mobile"], values["union_contact_mobile"]) == ("13600000001", "13600000002")


def test_market_cannot_open_a_second_account_with_full_width_digits(app, tree, login):
    """The issue's finding: a market opened 1３８００００１０１２ beside 13800001012, and it logged in."""
    market = login(app.test_client(), tree.gz_market.phone)
    response = market.post("/accounts/units", data={
        "kind": "merchant", "name": "第二个批发商", "city_code": "", "credit_code": "", "contact_name": "李四",
        "phone": "1" + GZ_MERCHANT[1:].translate(FULL_WIDTH),
        "csrf_token": csrf_token(market, "/")})
    assert response.status_code == 422
    assert PHONE_TAKEN in response.get_data(as_text=True)
    with app.app_context():
        phones = db.session.scalars(select(Account.phone)).all()
    assert all(re.fullmatch(r"1[0-9]{10}", phone) for phone in phones)


def test_full_width_login_reaches_the_one_account_and_shares_its_limits(app, tree, outbox):
    client = app.test_client()
    token = csrf_token(client)
    first = client.post("/login/code", data={"phone": "1３７００００１００１", "csrf_token": token})
    assert first.status_code == 200
    code = outbox.last_code(GZ_OFFICE)
    assert code, "the code goes to the stored number"
    # Another spelling of the number within the minute: one number, one per-minute limit.
    again = client.post("/login/code", data={"phone": "+86 137 0000 1001", "csrf_token": token})
    assert again.status_code == 422
    assert "1分钟" in again.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalars(select(SmsCode.phone_key)).all() == [phone_key(GZ_OFFICE)]
    response = client.post("/login", data={"phone": "137 0000 1001", "code": code, "csrf_token": token})
    assert response.status_code == 302
    assert "广州协作办" in client.get("/").get_data(as_text=True)


# --- the migration --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def migration():
    spec = importlib.util.spec_from_file_location("migration_0005", MIGRATION)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_migration_rewrites_spellings_to_digits(migration):
    rows = [(1, 10, "江南市场", "13800001011"), (2, 11, "黔山商行", "1３８００００１０１２"),
            (3, 12, "天河城店", "+86 138 0000 1022")]
    assert migration.planned_account_phones(rows) == {2: "13800001012", 3: "13800001022"}


def test_migration_stops_on_collisions_and_lists_the_accounts(migration):
    rows = [(1, 10, "江南市场", "13800001011"), (2, 11, "黔山商行", "13800001012"),
            (7, 15, "第二个商行", "1３８００００１０１２"), (9, 16, "又一个", "138 0000 1012"),
            (4, 12, "天河城店", "13800001022"), (5, 13, "坏号码", "1380000")]
    with pytest.raises(migration.PhoneCollision) as stopped:
        migration.planned_account_phones(rows)
    message = str(stopped.value)
    assert "138****1012: account 2 (unit 11 黔山商行); account 7 (unit 15 第二个商行); account 9 (unit 16 又一个)" \
        in message
    assert "account 5 (unit 13 坏号码)" in message
    assert "account 1 " not in message and "account 4 " not in message
    assert "Nothing was changed" in message


def test_migration_reads_numbers_as_the_portal_does(migration):
    for typed in ["1３８００１３８０００", "（＋８６）１３８－００１３－８０００", "0086 138 0013 8000", "13800138000"]:
        assert migration.canonical_mobile(typed) == mobile_digits(typed)
