"""Identifiers typed by people: mobile numbers, landlines (区号-号码) and 统一社会信用代码."""
import pytest

from portal.accounts.validators import normalize_credit_code, normalize_landline, normalize_mobile


@pytest.mark.parametrize("typed, stored", [
    ("13800138000", "13800138000"),
    ("  13800138000 ", "13800138000"),
    ("138 0013 8000", "13800138000"),
    ("138-0013-8000", "13800138000"),
    ("+86 138 0013 8000", "13800138000"),
    ("+8613800138000", "13800138000"),
    ("19912345678", "19912345678"),
])
def test_mobile_accepted_and_normalised_to_11_digits(typed, stored):
    assert normalize_mobile(typed) == stored


@pytest.mark.parametrize("typed", [
    "",
    None,
    "1380013800",      # 10 digits
    "138001380001",    # 12 digits
    "23800138000",     # does not start with 1
    "12000000000",     # no such mobile prefix
    "020-83133000",    # a landline
    "1380013800a",
    "+1 415 555 0100",
])
def test_mobile_refused(typed):
    assert normalize_mobile(typed) is None


@pytest.mark.parametrize("typed", [
    "020-83133000",
    "0755-83123456",
    "0756-1234567",
    "020-83133000-123",   # with an extension
    " 020-83133000 ",
])
def test_landline_with_area_code_accepted(typed):
    assert normalize_landline(typed) == typed.strip()


@pytest.mark.parametrize("typed", [
    "400-1188-832",     # a service number, not a desk phone
    "800-820-8820",
    "02083133000",      # no dash between 区号 and 号码
    "020 83133000",
    "83133000",         # no area code
    "138-0013-8000",    # a mobile
    "13800138000",
    "",
    None,
])
def test_landline_refused(typed):
    assert normalize_landline(typed) is None


def test_credit_code_valid():
    assert normalize_credit_code("91110000600037341L") == "91110000600037341L"


def test_credit_code_lower_case_and_spaces_normalised():
    assert normalize_credit_code(" 91110000600037341l ") == "91110000600037341L"


@pytest.mark.parametrize("typed", [
    "91110000600037341M",    # wrong check digit
    "911100006000373410",    # wrong check digit
    "9111000060003734",      # too short
    "91110000600037341LX",   # too long
    "",
    None,
])
def test_credit_code_refused(typed):
    assert normalize_credit_code(typed) is None
