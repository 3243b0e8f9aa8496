"""The approved totals behind the province and city views, read from the summaries the approving
transaction keeps (record_breakdown, and record_total when the view is filtered), never the records."""
from collections import OrderedDict
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import func, select

from portal.extensions import db
from portal.params import Reader, parse_id
from portal.records import breakdowns
from portal.records.models import RecordTotal, ReportingPeriod
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


#: record_total's column behind each breakdown of the view
COLUMNS = {"city": RecordTotal.city_scope, "channel": RecordTotal.channel, "county": RecordTotal.origin_county_code,
           "category": RecordTotal.category_id, "period": RecordTotal.period_id}


def _breakdowns(filters):
    """breakdown → {key: (count, amount)}: from record_breakdown's few rows when the view is the
    province's or one city's as a whole, else by grouping record_total under the filters."""
    if filters.period_id or filters.channel or filters.category_id or filters.province_code:
        return {name: _grouped(column, filters) for name, column in COLUMNS.items()}
    found = breakdowns.read(filters.city_scope)
    if filters.city_scope:  # a city's rows do not repeat the city: its line is its total
        found["city"] = {filters.city_scope: breakdowns.total(filters.city_scope)} if found["channel"] else {}
    return found


def province_view(filters):
    """Every breakdown the view shows, each a list of (label, count, amount) rows."""
    cities = {c.code: c.name for c in db.session.scalars(select(GuangdongCity))}
    cities[PROVINCE_SCOPE] = "广东东西部扶贫协作交易市场（省级单列）"
    categories = {e.id: e.name for e in db.session.scalars(select(DictionaryEntry).where(
        DictionaryEntry.kind == "category"))}
    periods = {p.id: p.name for p in db.session.scalars(select(ReportingPeriod))}

    grouped = _breakdowns(filters)
    by_county = grouped["county"]
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
        "by_city": _labelled(grouped["city"], cities),
        "by_channel": _labelled(grouped["channel"], CHANNEL_LABELS),
        "by_province": _labelled(by_province, {code: r.name for code, r in regions.items()}),
        "by_county": [(label, *values) for label, values in by_region.items()],
        "key_counties": key_counties,
        "by_category": _labelled(grouped["category"], categories),
        "by_period": _labelled(grouped["period"], periods),
    }


def grand_total():
    """(records, amount) approved in the whole province: the one figure its office's home page
    shows, without the breakdowns of the totals page."""
    return breakdowns.total()
