"""Queue, list and export queries. Every one starts from the account's scope (rules.py)
and pages by key, never by OFFSET."""
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from portal.accounts.models import Unit
from portal.clock import china_day_start
from portal.extensions import db
from portal.params import Reader, parse_date, parse_decimal, parse_id
from portal.records import rules
from portal.records.models import PurchaseRecord, QueueCounter, ReviewEvent
from portal.records.states import CHANNEL_LABELS, STATUS_LABELS


@dataclass
class RecordFilters:
    """The filters of a queue or list. A malformed value is left out, with its message in
    `errors` for the page to say so."""

    unit: str = ""
    channel: str = ""
    category_id: int | None = None
    region_code: str = ""
    start: date | None = None
    end: date | None = None
    min_amount: Decimal | None = None
    max_amount: Decimal | None = None
    q: str = ""
    errors: dict = field(default_factory=dict)

    @classmethod
    def from_args(cls, args):
        read = Reader(args)
        return cls(unit=read.text("unit"), channel=args.get("channel", "") if args.get(
            "channel") in CHANNEL_LABELS else "", category_id=read.get("category_id", parse_id, label="品类"),
            region_code=read.text("region_code", max_length=12), start=read.get("start", parse_date, label="开始日期"),
            end=read.get("end", parse_date, label="结束日期"),
            min_amount=read.get("min_amount", parse_decimal, places=2, digits=16, label="最低金额"),
            max_amount=read.get("max_amount", parse_decimal, places=2, digits=16, label="最高金额"),
            q=read.text("q"), errors=read.errors)

    def as_args(self):
        return {key: (value.isoformat() if isinstance(value, date) else value)
                for key, value in vars(self).items() if key != "errors" and value not in ("", None)}

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


#: everything a record's page shows, loaded with it in three statements instead of one per relation
SHOWN_WITH_RECORD = (
    joinedload(PurchaseRecord.unit), joinedload(PurchaseRecord.period), joinedload(PurchaseRecord.origin_province),
    joinedload(PurchaseRecord.origin_city), joinedload(PurchaseRecord.origin_county),
    joinedload(PurchaseRecord.category), joinedload(PurchaseRecord.measure_unit), selectinload(PurchaseRecord.vouchers),
    selectinload(PurchaseRecord.events).options(joinedload(ReviewEvent.actor), joinedload(ReviewEvent.actor_unit)),
)


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


def status_counts(unit_id):
    """A filing unit's records by status (those with any), from the counters kept per transition."""
    keys = {rules.unit_status_key(unit_id, status): status for status in STATUS_LABELS}
    rows = db.session.execute(select(QueueCounter.key, QueueCounter.count).where(QueueCounter.key.in_(keys)))
    return {keys[key]: count for key, count in rows if count}
