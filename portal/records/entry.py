"""The fields of a purchase record: parsing what a person typed, and the rules on them."""
from decimal import Decimal

from portal.extensions import db
from portal.params import BadValue, parse_decimal, parse_id
from portal.records.models import ReportingPeriod
from portal.reference.models import DictionaryEntry, Region

FIELDS = ("period_id", "direct_from_origin", "origin_province_code", "origin_city_code",
          "origin_county_code", "category_id", "measure_unit_id", "product_name", "quantity", "amount")
#: what a submission needs besides at least one voucher
REQUIRED_MESSAGES = {
    "period_id": "请选择填报类型",
    "direct_from_origin": "请选择是否直接向扶贫地区原产地采购",
    "origin_province_code": "请选择产地省份",
    "origin_city_code": "请选择产地城市",
    "origin_county_code": "请选择产地区县",
    "category_id": "请选择品类",
    "measure_unit_id": "请选择单位",
    "product_name": "请填写产品名称",
    "quantity": "请填写采购数量",
    "amount": "请填写采购金额",
}
#: the columns' NUMERIC(16, places): 14 integer digits of money, 13 of a quantity
DIGITS = 16
MAX_AMOUNT = Decimal("99999999999999.99")


def _decimal(errors, field, text, label, places):
    try:
        value = parse_decimal(text, places=places, digits=DIGITS, label=label)
    except BadValue as bad:
        errors[field] = bad.message.replace("不能为负数", "必须大于0")
        return None
    if value is not None and value <= 0:
        errors[field] = f"{label}必须大于0"
        return None
    return value


def _id(text):
    try:
        return parse_id(text)
    except BadValue:
        return None


def _entry(kind, value):
    entry_id = _id(value)
    entry = db.session.get(DictionaryEntry, entry_id) if entry_id else None
    return entry if entry is not None and entry.kind == kind and entry.active else None


def parse_fields(data):
    """Turn form data into record values; returns (values, errors). Missing fields are None:
    a draft may be incomplete, but nothing malformed is ever saved."""
    errors, values = {}, {}

    period_text = (data.get("period_id") or "").strip()
    period_id = _id(period_text)
    period = db.session.get(ReportingPeriod, period_id) if period_id else None
    if period_text and (period is None or not period.open):
        errors["period_id"] = "所选填报类型不存在或已关闭"
    values["period_id"] = period.id if period and period.open else None

    direct = data.get("direct_from_origin")
    values["direct_from_origin"] = {"1": True, "0": False}.get(direct)

    province = db.session.get(Region, data.get("origin_province_code") or "")
    city = db.session.get(Region, data.get("origin_city_code") or "")
    county = db.session.get(Region, data.get("origin_county_code") or "")
    if data.get("origin_province_code") and (province is None or province.level != "province"):
        errors["origin_province_code"] = "请从列表中选择产地省份"
    if data.get("origin_city_code") and city is None:
        errors["origin_city_code"] = "请从列表中选择产地城市"
    elif city is not None and (city.level != "city" or province is None or city.parent_code != province.code):
        errors["origin_city_code"] = "所选城市不属于所选省份"
    if county is not None and (county.level != "county" or city is None or county.parent_code != city.code):
        errors["origin_county_code"] = "所选区县不属于所选城市"
    if data.get("origin_county_code") and county is None:
        errors["origin_county_code"] = "请从列表中选择产地区县"
    values["origin_province_code"] = province.code if province else None
    values["origin_city_code"] = city.code if city else None
    values["origin_county_code"] = county.code if county else None

    for field, kind, label in (("category_id", "category", "品类"), ("measure_unit_id", "measure_unit", "单位")):
        entry = _entry(kind, data.get(field))
        if data.get(field) and entry is None:
            errors[field] = f"请从列表中选择{label}"
        values[field] = entry.id if entry else None

    name = (data.get("product_name") or "").strip()
    if len(name) > 60:
        errors["product_name"] = "产品名称不能超过60个字"
    values["product_name"] = name or None
    values["quantity"] = _decimal(errors, "quantity", data.get("quantity"), "采购数量", 3)
    values["amount"] = _decimal(errors, "amount", data.get("amount"), "采购金额", 2)
    return values, errors


def missing_for_submit(record):
    """Messages for what a record still lacks before it can be submitted."""
    errors = {field: message for field, message in REQUIRED_MESSAGES.items()
              if getattr(record, field) is None}
    if record.period is not None and not record.period.open:
        errors["period_id"] = f"填报类型“{record.period.name}”已关闭，请改选其他填报类型"
    if not record.vouchers:
        errors["vouchers"] = "请至少上传一份采购凭证（发票、合同、运单或其他佐证材料）"
    return errors


def snapshot(record):
    """The record's fields as text, for the diff a reviewer sees after a return."""
    labels = {
        "period_id": record.period.name if record.period else None,
        "direct_from_origin": {True: "是", False: "否"}.get(record.direct_from_origin),
        "origin_county_code": record.region_label or None,
        "category_id": record.category.name if record.category else None,
        "measure_unit_id": record.measure_unit.name if record.measure_unit else None,
        "product_name": record.product_name,
        "quantity": f"{record.quantity.normalize():f}" if record.quantity is not None else None,
        "amount": f"{record.amount:.2f}" if record.amount is not None else None,
        "vouchers": "、".join(f"{v.kind_label}:{v.original_name}" for v in record.vouchers) or None,
    }
    return labels


FIELD_LABELS = {
    "period_id": "填报类型", "direct_from_origin": "是否直接向原产地采购", "origin_county_code": "产地",
    "category_id": "品类", "measure_unit_id": "单位", "product_name": "产品名称",
    "quantity": "采购数量", "amount": "采购金额（元）", "vouchers": "采购凭证",
}
