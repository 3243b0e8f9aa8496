"""Values typed by people or sent by programs, turned into ids, years, money, ratios, quantities
and dates within their real limits — or a BadValue with the Chinese message to show.

Views and the domains' form parsers use these instead of int(), Decimal() or strptime() on raw
text. Every value is NFKC-normalised first (full-width １２３ becomes 123), then must be plain
ASCII digits: a superscript ² passes str.isdigit() but not this, and NaN, Infinity or 1e309
are not numbers a person types. Bounds come from the columns the values end in (an INTEGER id,
NUMERIC(16, 2) money), so that nothing reaches the database that it would refuse."""
import re
import unicodedata
from datetime import date
from decimal import Decimal

#: the largest INTEGER, the type of every id and version column: PostgreSQL binds a parameter
#: compared with one as INTEGER and refuses a larger value, where SQLite would take 64 bits
MAX_ID = 2**31 - 1
MIN_YEAR, MAX_YEAR = 2000, 2099
MIN_DATE, MAX_DATE = date(MIN_YEAR, 1, 1), date(MAX_YEAR, 12, 31)
DIGITS = re.compile(r"[0-9]+")
NUMBER = re.compile(r"(?P<whole>[0-9]+)(?:\.(?P<fraction>[0-9]*))?")
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
#: characters no field of the portal holds: C0 and C1 controls (tab and line breaks kept),
#: line and paragraph separators, and the bidirectional overrides that disguise file names
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


class BadValue(ValueError):
    """A value outside its form or limits; `message` is what the person reads."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


def strip_controls(text):
    return CONTROL.sub("", text)


def normalized(text):
    """NFKC, control characters removed, surrounding space stripped; None becomes ""."""
    if text is None:
        return ""
    return strip_controls(unicodedata.normalize("NFKC", str(text))).strip()


def numeral(text):
    """The text of a number, NFKC-normalised: full-width digits (what a Chinese input method
    types) become ASCII; superscripts and circled digits (²,①), which NFKC would also turn into
    digits, are kept as they are so that the pattern refuses them — nobody means 2 by ²."""
    if text is None:
        return ""
    text = str(text)
    if any(unicodedata.category(char) == "No" for char in text):
        return text.strip()
    return normalized(text)


def parse_int(text, *, minimum=0, maximum=MAX_ID, label="数值"):
    """An integer within [minimum, maximum], None if empty."""
    text = numeral(text)
    if not text:
        return None
    if not DIGITS.fullmatch(text) or len(text) > len(str(maximum)):
        raise BadValue(f"{label}只能是{minimum}到{maximum}之间的整数")
    value = int(text)
    if not minimum <= value <= maximum:
        raise BadValue(f"{label}只能是{minimum}到{maximum}之间的整数")
    return value


def parse_id(text, *, label="编号"):
    """A database id (1 … 2**63 − 1), None if empty."""
    return parse_int(text, minimum=1, maximum=MAX_ID, label=label)


def parse_year(text, *, label="年度"):
    return parse_int(text, minimum=MIN_YEAR, maximum=MAX_YEAR, label=label)


def parse_decimal(text, *, places, digits, label="数值", thousands=True):
    """A non-negative decimal of at most `places` decimals and `digits` digits in all (the
    column's NUMERIC(digits, places)), None if empty. Thousands separators are accepted
    where a person may copy a figure from a printed table."""
    text = numeral(text)
    if thousands:
        text = text.replace(",", "")
    if not text:
        return None
    if text.startswith("-") and NUMBER.fullmatch(text[1:]):
        raise BadValue(f"{label}不能为负数")
    match = NUMBER.fullmatch(text)
    if match is None:
        raise BadValue(f"{label}只能输入数字和小数点")
    fraction = (match["fraction"] or "").rstrip("0")
    if len(fraction) > places:
        raise BadValue(f"{label}最多保留{places}位小数")
    if len(match["whole"].lstrip("0")) > digits - places:
        raise BadValue(f"{label}超出允许范围")
    return Decimal(text)


def parse_date(text, *, label="日期"):
    """A yyyy-mm-dd date between 2000 and 2099, None if empty."""
    text = numeral(text)
    if not text:
        return None
    if not ISO_DATE.fullmatch(text):
        raise BadValue(f"{label}格式应为YYYY-MM-DD")
    try:
        value = date.fromisoformat(text)
    except ValueError:
        raise BadValue(f"{label}不是有效的日期") from None
    if not MIN_DATE <= value <= MAX_DATE:
        raise BadValue(f"{label}应在{MIN_YEAR}年至{MAX_YEAR}年之间")
    return value


def parse_code(text, *, length, label="代码"):
    """A division code of fixed length (6 digits for a county), None if empty."""
    text = numeral(text)
    if not text:
        return None
    if len(text) != length or not DIGITS.fullmatch(text):
        raise BadValue(f"{label}应为{length}位数字")
    return text


class Reader:
    """Reads named values of a request's args or form through the parsers above, keeping the
    message of each malformed one by its field name instead of stopping at the first."""

    def __init__(self, values):
        self.values = values
        self.errors = {}

    def get(self, name, parser, **options):
        try:
            return parser(self.values.get(name), **options)
        except BadValue as bad:
            self.errors[name] = bad.message
            return None

    def text(self, name, *, max_length=200):
        """Free text, control characters removed, cut at a length the columns hold. Not NFKC:
        that would turn the full-width （） of Chinese names into ASCII."""
        return strip_controls(str(self.values.get(name) or "")).strip()[:max_length]
