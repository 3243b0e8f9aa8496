"""The reserved-share form's rules (seed 001, 附件1), each a validation with its Chinese message,
and the amounts it computes. Pure functions over the typed text and the year's policy."""
import re
from decimal import ROUND_HALF_UP, Decimal

from portal.accounts.validators import normalize_landline, normalize_mobile
from portal.params import numeral
from portal.reservations.states import CANTEEN_TYPES, SHARED_FILLERS

NUMBER = re.compile(r"[0-9]+(\.[0-9]{1,2})?")
#: integer digits of the amounts' NUMERIC(16, 2)
WHOLE_DIGITS = 14
FEN = Decimal("0.01")
REMARK_MAX = 50
NO_CANTEEN_REMARK = "无食堂"
#: 共用XX单位食堂 / 由XX单位填报预留份额: the unit that files for a shared canteen must be named
SHARED_BY_OTHER_REMARK = re.compile(r"共用(?P<a>.{2,})食堂|由(?P<b>.{2,})填报预留份额")
FIGURE_FIELDS = ("canteen_type", "shared_filler", "remark", "canteen_total", "ratio", "reserved_amount",
                 "union_need", "union_total", "union_ratio", "union_expected", "union_remark")
CONTACT_FIELDS = ("contact_name", "contact_mobile", "contact_landline",
                  "union_contact_name", "union_contact_mobile", "union_contact_landline")


def share(total, ratio):
    """total × ratio%, to the fen, half up (预留份额 = 采购总额 × 预留比例)."""
    if total is None or ratio is None:
        return None
    return (total * ratio / 100).quantize(FEN, rounding=ROUND_HALF_UP)


def parse_number(text):
    """Digits and one decimal point, at most two decimals; None if empty; ValueError with the
    person's message otherwise."""
    text = numeral(text)
    if not text:
        return None
    if not NUMBER.fullmatch(text):
        if re.fullmatch(r"[0-9]+\.[0-9]{3,}", text):
            raise ValueError("最多保留小数点后两位")
        raise ValueError("仅可输入数字与小数点")
    if len(text.partition(".")[0].lstrip("0")) > WHOLE_DIGITS:
        raise ValueError("超出允许范围")
    return Decimal(text)


def _number(errors, data, field, label, *, required):
    try:
        value = parse_number(data.get(field))
    except ValueError as problem:
        errors[field] = f"{label}{problem}"
        return None
    if value is None and required:
        errors[field] = f"请填写{label}"
    return value


def _ratio(errors, data, field, label, *, minimum, required):
    value = _number(errors, data, field, label, required=required)
    if value is None:
        return None
    if value > 100:
        errors[field] = f"{label}不能超过100%"
    elif minimum is not None and value < minimum:
        errors[field] = f"{label}不能低于本年度最低比例{minimum.normalize():f}%"
    return value


def needs_figures(canteen_type, shared_filler):
    """Whether the unit files a canteen total and ratio: own, outsourced, or a shared canteen
    it files for itself."""
    return canteen_type in ("own", "outsourced") or (canteen_type == "shared" and shared_filler == "self")


def check_figures(data, policy):
    """Step 1: canteen type, remark, totals, ratios, union need. Returns (values, errors);
    the computed amounts are in values whenever their inputs are."""
    errors, values = {}, {}
    canteen_type = data.get("canteen_type") or None
    if canteen_type not in CANTEEN_TYPES:
        errors["canteen_type"] = "请选择食堂类型"
        canteen_type = None
    shared_filler = data.get("shared_filler") or None if canteen_type == "shared" else None
    if canteen_type == "shared" and shared_filler not in SHARED_FILLERS:
        errors["shared_filler"] = "请选择由本单位填写还是由其他单位填写"
        shared_filler = None
    remark = (data.get("remark") or "").strip()
    if len(remark) > REMARK_MAX:
        errors["remark"] = f"备注最多输入{REMARK_MAX}个文字（现为{len(remark)}个）"
    elif canteen_type == "none" and remark != NO_CANTEEN_REMARK:
        errors["remark"] = "无食堂的单位请在备注栏注明“无食堂”（不可注明为“无饭堂”或其他文字）"
    elif canteen_type == "shared" and shared_filler == "other" and not SHARED_BY_OTHER_REMARK.fullmatch(remark):
        errors["remark"] = "请在备注中注明代表填报的单位，如“共用XX单位食堂”或“由XX单位填报预留份额”"

    figures = needs_figures(canteen_type, shared_filler)
    total = _number(errors, data, "canteen_total", "年度食堂食材采购总额", required=figures)
    ratio = _ratio(errors, data, "ratio", "预留比例", minimum=policy.min_ratio, required=figures)
    if not figures:
        total = ratio = None

    union_text = data.get("union_need")
    union_need = {"1": True, "0": False}.get(union_text)
    if union_need is None:
        errors["union_need"] = "请选择是否有工会采购需求"
    union_total = _number(errors, data, "union_total", "工会采购总额", required=bool(union_need))
    union_ratio = _ratio(errors, data, "union_ratio", "工会采购预留比例", minimum=None, required=bool(union_need))
    union_remark = (data.get("union_remark") or "").strip()
    if len(union_remark) > REMARK_MAX:
        errors["union_remark"] = f"备注最多输入{REMARK_MAX}个文字（现为{len(union_remark)}个）"
    elif union_need is False and not union_remark:
        errors["union_remark"] = "没有工会采购需求的，请在备注中说明有关情况"
    if not union_need:
        union_total = union_ratio = None

    values.update(canteen_type=canteen_type, shared_filler=shared_filler, remark=remark or None,
                  canteen_total=total, ratio=ratio, reserved_amount=share(total, ratio),
                  union_need=union_need, union_total=union_total, union_ratio=union_ratio,
                  union_expected=share(union_total, union_ratio), union_remark=union_remark or None)
    return values, errors


def check_contacts(data):
    """Step 2: the filing contact and mobile are required; landlines are 区号-号码."""
    errors, values = {}, {}
    name = (data.get("contact_name") or "").strip()
    if not name:
        errors["contact_name"] = "请填写填报预留份额联系人"
    elif len(name) > 40:
        errors["contact_name"] = "联系人姓名不能超过40个字"
    values["contact_name"] = name or None
    for prefix, required in (("contact", True), ("union_contact", False)):
        mobile_text = (data.get(f"{prefix}_mobile") or "").strip()
        mobile = normalize_mobile(mobile_text) if mobile_text else None
        if mobile_text and mobile is None:
            errors[f"{prefix}_mobile"] = "手机号码格式不正确，请输入11位大陆手机号"
        elif required and not mobile_text:
            errors[f"{prefix}_mobile"] = "请填写联系人手机号码"
        values[f"{prefix}_mobile"] = mobile
        landline_text = (data.get(f"{prefix}_landline") or "").strip()
        landline = normalize_landline(landline_text) if landline_text else None
        if landline_text and landline is None:
            errors[f"{prefix}_landline"] = "固定电话请按“区号-号码”填写，如020-83133000"
        values[f"{prefix}_landline"] = landline
    union_name = (data.get("union_contact_name") or "").strip()
    if len(union_name) > 40:
        errors["union_contact_name"] = "联系人姓名不能超过40个字"
    values["union_contact_name"] = union_name or None
    return values, errors


def flags_for(reservation, last_year, policy):
    """Unusual filings that the superior and finance should look at twice."""
    flags = []
    ratio, amount = reservation.ratio, reservation.reserved_amount
    if last_year is not None and last_year.ratio is not None and ratio is not None:
        if ratio == policy.min_ratio and last_year.ratio > ratio:
            flags.append("ratio_at_floor")
        if policy.flag_below_last_year and (ratio < last_year.ratio or (
                amount is not None and last_year.reserved_amount is not None and amount < last_year.reserved_amount)):
            flags.append("below_last_year")
    if (last_year is not None and last_year.reserved_amount and amount is not None
            and amount < last_year.reserved_amount / 2):
        flags.append("halved")
    if reservation.canteen_type == "own" and not reservation.canteen_total:
        flags.append("own_zero")
    if (reservation.union_total is not None and reservation.canteen_total
            and reservation.union_total > reservation.canteen_total):
        flags.append("union_over_total")
    return ",".join(flags)


FLAG_LABELS = {
    "ratio_at_floor": "比例恰为最低比例，而上年更高",
    "below_last_year": "比例或金额低于上年",
    "halved": "预留份额比上年下降一半以上",
    "own_zero": "自有食堂但采购总额为0",
    "union_over_total": "工会采购总额大于食堂采购总额",
}
