"""The approved totals behind the province and city views, read from record_total only."""
from collections import OrderedDict
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import Date, cast, func, select, text

from portal.extensions import db
from portal.params import Reader, parse_id
from portal.records.models import PurchaseRecord, RecordTotal, ReportingPeriod
from portal.records.states import CHANNEL_LABELS, PROVINCE_SCOPE
from portal.reference.models import DictionaryEntry, GuangdongCity, Region


@dataclass
class TotalFilters:
    period_id: int | None = None
    city_scope: str = ""
    channel: str = ""
    category_id: int | None = None
    province_code: str = ""
    errors: dict = field(default_factory=dict)

    @classmethod
    def from_args(cls, args, *, fixed_city=None):
        read = Reader(args)
        return cls(period_id=read.get("period_id", parse_id, label="填报类型"),
                   city_scope=fixed_city or read.text("city_scope", max_length=12),
                   channel=args.get("channel", "") if args.get("channel") in CHANNEL_LABELS else "",
                   category_id=read.get("category_id", parse_id, label="品类"),
                   province_code=read.text("province_code", max_length=12), errors=read.errors)

    def as_args(self):
        """The filters as URL arguments, for links that keep them (the export)."""
        values = {"period_id": self.period_id, "city_scope": self.city_scope, "channel": self.channel,
                  "category_id": self.category_id, "province_code": self.province_code}
        return {key: value for key, value in values.items() if value}

    def describe(self):
        """(label, value) of each filter as a person would read it, 全部 where none is set."""
        period = db.session.get(ReportingPeriod, self.period_id) if self.period_id else None
        category = db.session.get(DictionaryEntry, self.category_id) if self.category_id else None
        province = db.session.get(Region, self.province_code) if self.province_code else None
        city = db.session.get(GuangdongCity, self.city_scope) if self.city_scope else None
        city_name = "广东东西部扶贫协作交易市场（省级单列）" if self.city_scope == PROVINCE_SCOPE \
            else (city.name if city else self.city_scope)
        return [("填报类型", period.name if period else "全部"),
                ("地级市", city_name or "全部"),
                ("渠道", CHANNEL_LABELS.get(self.channel, "全部")),
                ("品类", category.name if category else "全部"),
                ("产地省份", province.name if province else "全部")]

    def where(self, query):
        if self.period_id:
            query = query.where(RecordTotal.period_id == self.period_id)
        if self.city_scope:
            query = query.where(RecordTotal.city_scope == self.city_scope)
        if self.channel:
            query = query.where(RecordTotal.channel == self.channel)
        if self.category_id:
            query = query.where(RecordTotal.category_id == self.category_id)
        if self.province_code:
            query = query.where(RecordTotal.origin_county_code.startswith(self.province_code[:2],
                                                                             autoescape=True))
        return query


def _grouped(column, filters):
    query = select(column, func.sum(RecordTotal.record_count), func.sum(RecordTotal.amount)).group_by(column)
    return {key: (count, amount or Decimal("0")) for key, count, amount in db.session.execute(filters.where(query))}


def _labelled(grouped, labels, order=None):
    keys = order if order is not None else sorted(grouped, key=lambda k: -grouped[k][1])
    return [(labels.get(key, key), *grouped[key]) for key in keys if key in grouped]


def province_view(filters):
    """Every breakdown the view shows, each a list of (label, count, amount) rows."""
    cities = {c.code: c.name for c in db.session.scalars(select(GuangdongCity))}
    cities[PROVINCE_SCOPE] = "广东东西部扶贫协作交易市场（省级单列）"
    categories = {e.id: e.name for e in db.session.scalars(select(DictionaryEntry).where(
        DictionaryEntry.kind == "category"))}
    periods = {p.id: p.name for p in db.session.scalars(select(ReportingPeriod))}

    by_county = _grouped(RecordTotal.origin_county_code, filters)
    regions = {r.code: r for r in db.session.scalars(select(Region))}
    by_region = OrderedDict()
    key_counties = []
    for code, (count, amount) in sorted(by_county.items(), key=lambda item: -item[1][1]):
        county = regions.get(code)
        city = regions.get(county.parent_code) if county else None
        province = regions.get(city.parent_code) if city else None
        label = " / ".join(r.name for r in (province, city, county) if r)
        by_region[label] = (count, amount)
        if county is not None and county.key_county:
            key_counties.append((label, count, amount))
    by_province = {}
    for code, (count, amount) in by_county.items():
        province_code = code[:2] + "0000"
        total = by_province.get(province_code, (0, Decimal("0")))
        by_province[province_code] = (total[0] + count, total[1] + amount)

    total_count = sum(count for count, _ in by_county.values())
    total_amount = sum((amount for _, amount in by_county.values()), Decimal("0"))
    return {
        "total": (total_count, total_amount),
        "by_city": _labelled(_grouped(RecordTotal.city_scope, filters), cities),
        "by_channel": _labelled(_grouped(RecordTotal.channel, filters), CHANNEL_LABELS),
        "by_province": _labelled(by_province, {code: r.name for code, r in regions.items()}),
        "by_county": [(label, *values) for label, values in by_region.items()],
        "key_counties": key_counties,
        "by_category": _labelled(_grouped(RecordTotal.category_id, filters), categories),
        "by_period": _labelled(_grouped(RecordTotal.period_id, filters), periods),
    }


def grand_total():
    """(records, amount) approved in the whole province: the one figure its office's home page
    shows, without the breakdowns of the totals page."""
    count, amount = db.session.execute(select(func.sum(RecordTotal.record_count), func.sum(RecordTotal.amount))).one()
    return count or 0, amount or Decimal("0")


def approval_month():
    """SQL for the first day of a record's approval month in China (UTC+8), as the workflow
    counts it into record_month_total, for rebuilding the summary in bulk."""
    if db.session.get_bind().dialect.name == "postgresql":
        return cast(func.date_trunc("month", PurchaseRecord.approved_at + text("interval '8 hours'")), Date)
    return func.date(PurchaseRecord.approved_at, "+8 hours", "start of month")
