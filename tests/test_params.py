"""The bounded parsers every request value goes through (portal/params.py): examples from what
attackers and careless users sent, and properties over any text (Hypothesis)."""
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.params import (
    MAX_ID, BadValue, Reader, normalized, parse_code, parse_date, parse_decimal, parse_id, parse_int, parse_year,
)

SETTINGS = settings(max_examples=300, deadline=None)


@pytest.mark.parametrize("text, expected", [
    ("1", 1), (" 42 ", 42), ("１２", 12), (str(MAX_ID), MAX_ID), ("", None), (None, None), ("007", 7),
])
def test_ids_read(text, expected):
    assert parse_id(text) == expected


@pytest.mark.parametrize("text", [
    "0", "-1", "²", "2²", "1e3", "0x10", "1_000", "9223372036854775808", "99999999999999999999", "1.0", "NaN",
    "一", "٣", "x" * 10_000, "1 2",
])
def test_ids_refused_with_a_message(text):
    with pytest.raises(BadValue) as refused:
        parse_id(text, label="记录")
    assert refused.value.message.startswith("记录只能是1到")


def test_years_are_plausible():
    assert parse_year("2024") == 2024
    assert parse_year("２０２５") == 2025
    for text in ("1999", "2100", "20245", "²⁰²⁴"):
        with pytest.raises(BadValue):
            parse_year(text)


@pytest.mark.parametrize("text, expected", [
    ("12.5", Decimal("12.5")), ("1,234,567.89", Decimal("1234567.89")), ("１２．５", Decimal("12.5")),
    ("12.50", Decimal("12.50")), ("0", Decimal("0")), ("99999999999999.99", Decimal("99999999999999.99")),
    ("12.500", Decimal("12.500")),
])
def test_money_read(text, expected):
    assert parse_decimal(text, places=2, digits=16) == expected


@pytest.mark.parametrize("text, message", [
    ("NaN", "只能输入数字和小数点"), ("sNaN", "只能输入数字和小数点"), ("Infinity", "只能输入数字和小数点"),
    ("1e309", "只能输入数字和小数点"), ("1E+2", "只能输入数字和小数点"), ("-5", "不能为负数"),
    ("1.005", "最多保留2位小数"), ("100000000000000000", "超出允许范围"), ("1" * 27, "超出允许范围"),
    ("12.3.4", "只能输入数字和小数点"), (".5", "只能输入数字和小数点"), ("²", "只能输入数字和小数点"),
])
def test_money_refused(text, message):
    with pytest.raises(BadValue) as refused:
        parse_decimal(text, places=2, digits=16, label="金额")
    assert refused.value.message == "金额" + message


def test_dates_between_2000_and_2099():
    assert parse_date("2024-02-29") == date(2024, 2, 29)
    for text, message in (("0001-01-01", "应在2000年至2099年之间"), ("9999-12-31", "应在2000年至2099年之间"),
                          ("2024-02-30", "不是有效的日期"), ("2023-02-29", "不是有效的日期"),
                          ("2024/01/30", "格式应为YYYY-MM-DD"), ("2024-1-3", "格式应为YYYY-MM-DD"),
                          ("２０２４-０１-３０x", "格式应为YYYY-MM-DD")):
        with pytest.raises(BadValue) as refused:
            parse_date(text, label="开始日期")
        assert refused.value.message == "开始日期" + message


def test_codes_are_fixed_length_digits():
    assert parse_code("451225", length=6) == "451225"
    for text in ("45122", "4512250", "45122a", "45122²"):
        with pytest.raises(BadValue):
            parse_code(text, length=6)


def test_reader_collects_every_message_and_keeps_going():
    read = Reader({"a": "1", "b": "x", "c": "0001-01-01", "t": "名称\x00（广州）\r\n" + "字" * 300})
    assert read.get("a", parse_id) == 1
    assert read.get("b", parse_id, label="品类") is None
    assert read.get("c", parse_date, label="开始日期") is None
    assert read.get("missing", parse_id) is None
    assert set(read.errors) == {"b", "c"}
    # Free text keeps its full-width brackets and loses control characters and its excess.
    text = read.text("t", max_length=20)
    assert text.startswith("名称（广州）") and "\x00" not in text and len(text) == 20


# Properties: whatever the text, a parser answers a value within bounds or a BadValue — never
# another exception, never a value the database would refuse.
@SETTINGS
@given(st.text(max_size=40))
def test_any_text_is_an_id_within_bigint_or_a_message(text):
    try:
        value = parse_id(text)
    except BadValue as bad:
        assert bad.message
    else:
        assert value is None or 1 <= value <= MAX_ID


@SETTINGS
@given(st.text(max_size=40))
def test_any_text_is_money_that_fits_numeric_16_2_or_a_message(text):
    try:
        value = parse_decimal(text, places=2, digits=16)
    except BadValue:
        return
    if value is not None:
        assert value.is_finite() and value >= 0
        assert value == value.quantize(Decimal("0.01"))
        assert value < Decimal(10) ** 14


@SETTINGS
@given(st.text(max_size=30))
def test_any_text_is_a_date_in_range_or_a_message(text):
    try:
        value = parse_date(text)
    except BadValue:
        return
    assert value is None or date(2000, 1, 1) <= value <= date(2099, 12, 31)


@SETTINGS
@given(st.integers(min_value=1, max_value=MAX_ID))
def test_every_valid_id_reads_back_in_ascii_and_full_width(number):
    full_width = str(number).translate({ord(d): ord("０") + int(d) for d in "0123456789"})
    assert parse_id(str(number)) == number == parse_id(full_width)


@SETTINGS
@given(st.decimals(min_value=0, max_value=Decimal("99999999999999.99"), places=2, allow_nan=False))
def test_every_amount_of_the_column_reads_back(amount):
    assert parse_decimal(f"{amount:f}", places=2, digits=16) == amount
    assert parse_decimal(f"{amount:,.2f}", places=2, digits=16) == amount


@SETTINGS
@given(st.text())
def test_normalized_text_holds_no_control_character(text):
    cleaned = normalized(text)
    assert not any(ord(c) < 32 and c not in "\t\n\r" for c in cleaned)
    assert "\x7f" not in cleaned and "\u202e" not in cleaned


@SETTINGS
@given(st.integers(), st.integers(min_value=0, max_value=10**6))
def test_int_bounds_hold(number, span):
    minimum, maximum = 5, 5 + span
    try:
        value = parse_int(str(number), minimum=minimum, maximum=maximum)
    except BadValue:
        assert not minimum <= number <= maximum
    else:
        assert value == number and minimum <= value <= maximum


# --- what `make mutate` found unchecked: default labels, boundaries, the Reader's options ----------

def _message(parser, text, **options):
    with pytest.raises(BadValue) as refused:
        parser(text, **options)
    assert str(refused.value) == refused.value.message
    return refused.value.message


def test_default_labels_name_the_value_in_each_message():
    assert _message(parse_int, "x") == f"数值只能是0到{MAX_ID}之间的整数"
    assert _message(parse_id, "0") == f"编号只能是1到{MAX_ID}之间的整数"
    assert _message(parse_year, "1999") == "年度只能是2000到2099之间的整数"
    assert _message(parse_decimal, "x", places=2, digits=16) == "数值只能输入数字和小数点"
    assert _message(parse_date, "x") == "日期格式应为YYYY-MM-DD"
    assert _message(parse_code, "12", length=6) == "代码应为6位数字"


def test_zero_is_an_integer_and_none_is_empty():
    assert parse_int("0") == 0
    assert normalized(None) == ""


def test_first_and_last_dates_are_accepted():
    assert parse_date("2000-01-01") == date(2000, 1, 1)
    assert parse_date("2099-12-31") == date(2099, 12, 31)


def test_reader_passes_options_and_keeps_messages_and_cuts_text():
    reader = Reader({"n": "5", "t": "字" * 300})
    assert reader.get("n", parse_int, maximum=3) is None
    assert reader.errors == {"n": "数值只能是0到3之间的整数"}
    assert reader.text("t") == "字" * 200
    assert reader.text("missing") == ""
