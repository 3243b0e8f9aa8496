"""One source of the current time, and its display: stored as naive UTC, shown in China
Standard Time (UTC+8 all year: China keeps no daylight saving time)."""
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation

CHINA_OFFSET = timedelta(hours=8)


def utcnow():
    return datetime.now(timezone.utc).replace(tzinfo=None)


def to_china(value):
    return value + CHINA_OFFSET


def format_datetime(value):
    """2024-01-30 14:05, as tables show it."""
    return to_china(value).strftime("%Y-%m-%d %H:%M") if value else ""


def format_date(value):
    """2024-01-30, as tables and files show it."""
    return to_china(value).strftime("%Y-%m-%d") if value else ""


def format_date_long(value):
    """2024年1月30日, as prose and printed sheets show it."""
    local = to_china(value)
    return f"{local.year}年{local.month}月{local.day}日" if value else ""


def _decimal(value):
    """A Decimal from a stored figure or its text (snapshots keep text); None when it is neither."""
    if value is None or value == "":
        return None
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def format_money(value):
    """1,234,567.50: thousands separators and two decimals, from Decimal without floats.
    Text that is no number is shown as it is rather than hidden."""
    number = _decimal(value)
    if number is None:
        return "" if value is None else str(value)
    return f"{number:,.2f}"


def format_quantity(value):
    """1,250.5 or 100: no trailing zeros and never exponent notation (Decimal.normalize() alone
    prints 100 as 1E+2)."""
    number = _decimal(value)
    if number is None:
        return "" if value is None else str(value)
    return f"{number.normalize():,f}"


def china_day_start(day):
    """The UTC instant at which a calendar day (a date) begins in China."""
    return datetime(day.year, day.month, day.day) - CHINA_OFFSET
