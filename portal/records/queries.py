"""Queue, list and export queries. Every one starts from the account's scope (rules.py)
and pages by key, never by OFFSET."""
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from portal.accounts.models import Unit
from portal.clock import china_day_start
from portal.extensions import db
from portal.records import rules
from portal.records.models import PurchaseRecord, QueueCounter, ReviewEvent
from portal.records.states import CHANNEL_LABELS


@dataclass
class RecordFilters:
    """The filters of a queue or list, parsed leniently: a malformed value is ignored."""

    unit: str = ""
    channel: str = ""
    category_id: int | None = None
    region_code: str = ""
    start: date | None = None
    end: date | None = None
    min_amount: Decimal | None = None
    max_amount: Decimal | None = None
    q: str = ""

    @classmethod
    def from_args(cls, args):
        def day(name):
            try:
                return datetime.strptime(args.get(name, ""), "%Y-%m-%d").date()
            except ValueError:
                return None

        def money(name):
            try:
                return Decimal(args.get(name, "").replace(",", "")) if args.get(name) else None
            except InvalidOperation:
                return None

        return cls(unit=args.get("unit", "").strip(), channel=args.get("channel", "") if args.get(
            "channel") in CHANNEL_LABELS else "", category_id=args.get("category_id", type=int),
            region_code=args.get("region_code", "").strip(), start=day("start"), end=day("end"),
            min_amount=money("min_amount"), max_amount=money("max_amount"), q=args.get("q", "").strip())

    def as_args(self):
        return {key: (value.isoformat() if isinstance(value, date) else value)
                for key, value in vars(self).items() if value not in ("", None)}

    def apply(self, query):
        record = PurchaseRecord
        if self.unit or self.q:
            query = query.join(Unit, Unit.id == record.unit_id)
        if self.unit:
            query = query.where(Unit.name.contains(self.unit, autoescape=True))
        if self.q:
            query = query.where(record.product_name.contains(self.q, autoescape=True)
                                | Unit.name.contains(self.q, autoescape=True))
        if self.channel:
            query = query.where(record.channel == self.channel)
        if self.category_id:
            query = query.where(record.category_id == self.category_id)
        if self.region_code:
            query = query.where((record.origin_county_code == self.region_code)
                                | (record.origin_city_code == self.region_code)
                                | (record.origin_province_code == self.region_code))
        if self.start:
            query = query.where(record.submitted_at >= china_day_start(self.start))
        if self.end:
            query = query.where(record.submitted_at < china_day_start(self.end + timedelta(days=1)))
        if self.min_amount is not None:
            query = query.where(record.amount >= self.min_amount)
        if self.max_amount is not None:
            query = query.where(record.amount <= self.max_amount)
        return query


def _with_row_data(query):
    return query.options(joinedload(PurchaseRecord.unit), joinedload(PurchaseRecord.category),
                         joinedload(PurchaseRecord.origin_county), joinedload(PurchaseRecord.origin_province))


def pending_query(account, filters):
    return _with_row_data(filters.apply(select(PurchaseRecord).where(rules.pending_clause(account))))


def done_query(account, filters):
    """What this account's unit acted on, newest action first; rows are review events."""
    query = (select(ReviewEvent).join(ReviewEvent.record)
             .where(ReviewEvent.actor_unit_id == account.unit_id, ReviewEvent.action != "submit")
             .options(selectinload(ReviewEvent.record).options(
                 joinedload(PurchaseRecord.unit), joinedload(PurchaseRecord.category),
                 joinedload(PurchaseRecord.origin_county), joinedload(PurchaseRecord.origin_province)),
                 joinedload(ReviewEvent.actor)))
    return filters.apply(query)


def visible_query(account, filters):
    return _with_row_data(filters.apply(select(PurchaseRecord).where(rules.visible_clause(account))))


def queue_counts(account):
    keys = {"pending": rules.pending_counter_key(account), "done": f"done:{account.unit_id}"}
    rows = dict(db.session.execute(select(QueueCounter.key, QueueCounter.count)
                                   .where(QueueCounter.key.in_([k for k in keys.values() if k]))).all())
    return {tab: rows.get(key, 0) for tab, key in keys.items()}
