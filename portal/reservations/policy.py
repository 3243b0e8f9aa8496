"""The year's policy: read, defaults, and the deadline check."""
from datetime import date, datetime
from decimal import Decimal

from portal import audit
from portal.accounts.kinds import FinanceLevel, UnitKind
from portal.clock import to_china, utcnow
from portal.errors import PermissionDenied, ValidationFailed
from portal.extensions import db
from portal.params import BadValue, parse_int
from portal.reservations.form_rules import parse_number
from portal.reservations.models import YearPolicy

#: Guangdong's 2024 notice (粤财采购〔2024〕1号): 30% minimum, national 10% floor, 15% encouraged,
#: filing by 20 February. New years start from the same figures until the province changes them.
GUANGDONG_DEFAULTS = {"min_ratio": Decimal("30"), "encouraged_ratio": Decimal("15"),
                      "national_floor": Decimal("10"), "flag_below_last_year": True}


def ensure_policy(year):
    policy = db.session.get(YearPolicy, year)
    if policy is None:
        policy = YearPolicy(year=year, filing_deadline=date(year, 2, 20), superior_deadline=date(year, 2, 28),
                            finance_deadline=date(year, 3, 15), **GUANGDONG_DEFAULTS)
        db.session.add(policy)
        db.session.flush()
    return policy


def china_today(now=None):
    return to_china(now or utcnow()).date()


def filing_open(policy, now=None):
    """New filings close after the deadline unless the province extended it."""
    return china_today(now) <= policy.last_filing_day


POLICY_NUMBERS = {"min_ratio": "最低预留比例", "encouraged_ratio": "鼓励预留比例", "national_floor": "全国最低比例"}
POLICY_DATES = {"filing_deadline": "填报截止日期", "extended_until": "延期日期",
                "superior_deadline": "主管预算单位确认截止日期", "finance_deadline": "财政部门确认截止日期"}


def may_set_policy(account):
    return (account.is_active and account.is_admin and account.unit.kind == UnitKind.FINANCE
            and account.unit.finance_level == FinanceLevel.PROVINCE)


def save_policy(actor, data):
    """The province finance department sets a year's figures and dates; several years live side by side."""
    if not may_set_policy(actor):
        raise PermissionDenied("只有省级财政部门可以设置年度政策")
    errors, values = {}, {}
    try:
        year = parse_int(data.get("year"), minimum=2020, maximum=2099)
    except BadValue:
        year = None
    if year is None:
        errors["year"] = "请填写四位年度，如2025"
    for field, label in POLICY_NUMBERS.items():
        try:
            value = parse_number(data.get(field))
        except ValueError as problem:
            errors[field] = f"{label}{problem}"
            continue
        if value is None:
            errors[field] = f"请填写{label}"
        elif value > 100:
            errors[field] = f"{label}不能超过100%"
        values[field] = value
    for field, label in POLICY_DATES.items():
        text = (data.get(field) or "").strip()
        try:
            values[field] = datetime.strptime(text, "%Y-%m-%d").date() if text else None
        except ValueError:
            errors[field] = f"{label}格式不正确"
    if not errors.get("filing_deadline") and values.get("filing_deadline") is None:
        errors["filing_deadline"] = "请填写填报截止日期"
    if not errors and values["national_floor"] > values["min_ratio"]:
        errors["min_ratio"] = "最低预留比例不能低于全国最低比例"
    if errors:
        raise ValidationFailed(errors)
    policy = db.session.get(YearPolicy, year) or YearPolicy(year=year)
    before = {field: str(getattr(policy, field, None)) for field in {**POLICY_NUMBERS, **POLICY_DATES}}
    for field, value in values.items():
        setattr(policy, field, value)
    policy.flag_below_last_year = bool(data.get("flag_below_last_year"))
    policy.updated_at = utcnow()
    policy.updated_by_id = actor.id
    db.session.add(policy)
    db.session.flush()
    audit.record("policy_saved", actor=actor, object_ref=f"policy:{year}",
                 detail={f: [before[f], str(v)] for f, v in values.items() if before[f] != str(v)})
    return policy
