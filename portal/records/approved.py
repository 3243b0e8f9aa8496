"""Approved records behind a figure of the dashboard or the totals: the list a person reaches by
clicking a month, a city, a channel, a province or a county. Always within the account's own
scope (queries.visible_query); nothing here reads the request."""
from dataclasses import dataclass
from datetime import date

from portal.clock import china_day_start
from portal.params import BadValue, Reader, parse_year
from portal.records import queries
from portal.records.models import PurchaseRecord
from portal.records.states import APPROVED


def _month(text, **_):
    """"2024-03" as the first day of its month, None if empty."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        year, month = text.split("-")
        return date(parse_year(year), int(month), 1)
    except (ValueError, TypeError, BadValue):
        raise BadValue("月份格式应为YYYY-MM") from None


@dataclass
class ApprovedFilters(queries.RecordFilters):
    """The record filters, and the approval's year or month and the counting city."""

    year: int | None = None
    month: date | None = None
    city_scope: str = ""

    @classmethod
    def from_args(cls, args):
        base = queries.RecordFilters.from_args(args)
        read = Reader(args)
        filters = cls(**{k: v for k, v in vars(base).items()}, year=read.get("year", parse_year),
                      month=read.get("month", _month), city_scope=read.text("city_scope", max_length=6))
        filters.errors.update(read.errors)
        return filters

    def as_args(self):
        values = super().as_args()
        if self.month:
            values["month"] = f"{self.month:%Y-%m}"
        return values

    def describe(self):
        if self.month:
            return f"{self.month.year}年{self.month.month}月审核通过"
        return f"{self.year}年审核通过" if self.year else "审核通过"

    def apply(self, query):
        query = super().apply(query).where(PurchaseRecord.status == APPROVED)
        if self.month:
            following = date(self.month.year + self.month.month // 12, self.month.month % 12 + 1, 1)
            query = query.where(PurchaseRecord.approved_at >= china_day_start(self.month),
                                PurchaseRecord.approved_at < china_day_start(following))
        elif self.year:
            query = query.where(PurchaseRecord.approved_at >= china_day_start(date(self.year, 1, 1)),
                                PurchaseRecord.approved_at < china_day_start(date(self.year + 1, 1, 1)))
        if self.city_scope:
            query = query.where(PurchaseRecord.city_scope == self.city_scope)
        return query


def approved_query(account, filters):
    """The approved records this account may see, within the filters."""
    return queries.visible_query(account, filters)
