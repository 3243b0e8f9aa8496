"""Checks of identifiers typed by people: mobile numbers, landlines, credit codes.

Every value is read after NFKC normalisation, so full-width digits and letters typed with a
Chinese input method mean what they look like, and only ASCII digits are stored.
"""
import re
import unicodedata

import phonenumbers
from stdnum.cn import uscc
from stdnum.exceptions import ValidationError as StdnumError

#: longer than any way of writing one number (full-width, +86, spaces): refused unread
TYPED_MAX = 40
MOBILE_FORMAT_MESSAGE = "手机号码格式不正确，请输入11位大陆手机号"

_MOBILE = re.compile(r"1[0-9]{10}")
_LANDLINE = re.compile(r"(0[0-9]{2,3})-([0-9]{7,8})(?:-([0-9]{1,6}))?")
_MOBILE_TYPES = (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE)
_LANDLINE_TYPES = (phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE)


def _typed(value):
    if not isinstance(value, str) or len(value) > TYPED_MAX:
        return None
    return unicodedata.normalize("NFKC", value)


def _is_separator(char):
    # Spaces, every dash (hyphen, en/em dash, minus sign), dots, brackets, and invisible format
    # characters (zero-width space, BOM) that a number copied from a web page or Excel carries.
    category = unicodedata.category(char)
    return char.isspace() or char in ".()[]\u2212" or category in ("Pd", "Cf")


def mobile_digits(value):
    """The digits of a typed mainland mobile number with separators and the +86, 0086 or 86
    prefix removed, or None; the shape only (1 and ten ASCII digits), not the number plan."""
    text = _typed(value)
    if text is None:
        return None
    digits = "".join(char for char in text if not _is_separator(char))
    for prefix in ("+86", "0086"):
        if digits.startswith(prefix):
            digits = digits[len(prefix):]
            break
    else:
        if len(digits) == 13 and digits.startswith("86"):
            digits = digits[2:]
    return digits if _MOBILE.fullmatch(digits) else None


def normalize_mobile(value):
    """Return the 11 ASCII digits of a mainland mobile number, or None if it is not one.

    The one reading of a mobile number for every entry point (opening units and accounts,
    registration, login, code requests, contacts, imports), so that one phone is one account.
    """
    digits = mobile_digits(value)
    if digits is None:
        return None
    parsed = phonenumbers.parse(digits, "CN")
    if not phonenumbers.is_valid_number(parsed) or phonenumbers.number_type(parsed) not in _MOBILE_TYPES:
        return None
    return digits


def normalize_landline(value):
    """Return a landline as 区号-号码 (e.g. 020-83133000), or None if it is not one.

    400/800 service numbers are refused: a unit's contact line is a desk phone.
    """
    text = _typed(value)
    if text is None:
        return None
    text = text.strip()
    match = _LANDLINE.fullmatch(text)
    if not match:
        return None
    parsed = phonenumbers.parse(match.group(1) + match.group(2), "CN")
    if not phonenumbers.is_valid_number(parsed) or phonenumbers.number_type(parsed) not in _LANDLINE_TYPES:
        return None
    return text


def normalize_credit_code(value):
    """Return the 18-character 统一社会信用代码 (GB 32100), or None if its check fails."""
    text = _typed(value)
    if text is None:
        return None
    try:
        return uscc.validate(text.strip().upper())
    except StdnumError:
        return None
