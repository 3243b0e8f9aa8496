"""Warning flags that help a reviewer catch a wrong or false record (the 2024 notice forbids
虚假交易 and asks that abnormal filings be found). Computed when a record is submitted."""
import math

from sqlalchemy import select

from portal.extensions import db
from portal.records.counting import add_to
from portal.records.models import PriceStat, Voucher
from portal.reference.models import Region

FLAG_LABELS = {
    "dup_voucher": "凭证与其他记录重复",
    "price": "单价明显偏离同类记录",
    "amount": "金额超过预警线",
    "region": "产地不在东西部协作结对县名单内",
}

#: a unit price this many times above or below the typical one is flagged
PRICE_FACTOR = 3.0
PRICE_MIN_SAMPLES = 5


def compute_flags(record, amount_threshold):
    flags = []
    hashes = [voucher.sha256 for voucher in record.vouchers]
    if hashes and db.session.scalar(
        select(Voucher.id).where(Voucher.sha256.in_(hashes), Voucher.record_id != record.id).limit(1)
    ) is not None:
        flags.append("dup_voucher")
    if _price_is_unusual(record):
        flags.append("price")
    if record.amount is not None and record.amount > amount_threshold:
        flags.append("amount")
    county = db.session.get(Region, record.origin_county_code) if record.origin_county_code else None
    if county is not None and county.relation != "east_west_pairing":
        flags.append("region")
    return ",".join(flags)


def _price_is_unusual(record):
    price = record.unit_price
    if not price or record.category_id is None or record.measure_unit_id is None:
        return False
    stat = db.session.get(PriceStat, (record.category_id, record.measure_unit_id))
    if stat is None or stat.samples < PRICE_MIN_SAMPLES:
        return False
    mean = stat.sum_log / stat.samples
    return abs(math.log(float(price)) - mean) > math.log(PRICE_FACTOR)


def add_price_sample(record):
    """Count an approved record's unit price in the running statistics of its category."""
    price = record.unit_price
    if price:
        add_to(PriceStat, {"category_id": record.category_id, "measure_unit_id": record.measure_unit_id},
               {"samples": 1, "sum_log": math.log(float(price))})
