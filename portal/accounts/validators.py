"""Checks of identifiers typed by people: mobile numbers, landlines, credit codes."""
import re

import phonenumbers
from stdnum.cn import uscc
from stdnum.exceptions import ValidationError as StdnumError

_NON_DIGITS = re.compile(r"[\s\-]")


def normalize_mobile(value):
    """Return the 11-digit mainland mobile number, or None if it is not one."""
    digits = _NON_DIGITS.sub("", value or "")
    if digits.startswith("+86"):
        digits = digits[3:]
    if not re.fullmatch(r"1\d{10}", digits):
        return None
    parsed = phonenumbers.parse(digits, "CN")
    if not phonenumbers.is_valid_number(parsed):
        return None
    if phonenumbers.number_type(parsed) not in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    ):
        return None
    return digits


def normalize_landline(value):
    """Return a landline as 区号-号码 (e.g. 020-83133000), or None if it is not one.

    400/800 service numbers are refused: a unit's contact line is a desk phone.
    """
    value = (value or "").strip()
    match = re.fullmatch(r"(0\d{2,3})-(\d{7,8})(?:-(\d{1,6}))?", value)
    if not match:
        return None
    parsed = phonenumbers.parse(match.group(1) + match.group(2), "CN")
    if not phonenumbers.is_valid_number(parsed):
        return None
    if phonenumbers.number_type(parsed) not in (
        phonenumbers.PhoneNumberType.FIXED_LINE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    ):
        return None
    return value


def normalize_credit_code(value):
    """Return the 18-character 统一社会信用代码 (GB 32100), or None if its check fails."""
    try:
        return uscc.validate((value or "").strip().upper())
    except StdnumError:
        return None
