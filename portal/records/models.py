import json
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Boolean, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.clock import utcnow
from portal.dbtypes import ExactDecimal
from portal.extensions import db
from portal.records.states import ACTION_LABELS, CHANNEL_LABELS, FILL_TYPES, STATUS_LABELS


class ReportingPeriod(db.Model):
    """A fill type of a year (填报类型): back-filling a past half-year, or current records."""

    __tablename__ = "reporting_period"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(40), unique=True)
    #: backfill (上半年购销信息补登) or current (购销信息登记)
    fill_type: Mapped[str] = mapped_column(String(10))
    year: Mapped[int] = mapped_column(Integer)
    #: closed periods take no new records
    open: Mapped[bool] = mapped_column(Boolean, default=True)

    @property
    def fill_type_label(self):
        return FILL_TYPES.get(self.fill_type, self.fill_type)


class PurchaseRecord(db.Model):
    """A purchase of farm products from an assisted region, filed by one unit."""

    __tablename__ = "purchase_record"
    __table_args__ = (
        # The review queues: pending at a first reviewer, pending at a city, newest first.
        Index("ix_purchase_record_first_queue", "first_reviewer_id", "status", "id"),
        Index("ix_purchase_record_city_queue", "city_scope", "status", "id"),
        Index("ix_purchase_record_unit_list", "unit_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"))
    created_by_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    #: market, supermarket, ecommerce or enterprise (a merchant files under its market's channel)
    channel: Mapped[str] = mapped_column(String(20))
    #: the market or supermarket that reviews a merchant's or store's record first
    first_reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"))
    #: the Guangdong city whose office reviews and counts the record; 440000 for the
    #: separately listed province market, whose second level is the province office
    city_scope: Mapped[str] = mapped_column(String(6))
    period_id: Mapped[int | None] = mapped_column(ForeignKey("reporting_period.id"))
    #: 是否直接向扶贫地区原产地采购
    direct_from_origin: Mapped[bool | None] = mapped_column(Boolean)
    origin_province_code: Mapped[str | None] = mapped_column(ForeignKey("region.code"))
    origin_city_code: Mapped[str | None] = mapped_column(ForeignKey("region.code"))
    origin_county_code: Mapped[str | None] = mapped_column(ForeignKey("region.code"))
    category_id: Mapped[int | None] = mapped_column(ForeignKey("dictionary_entry.id"))
    measure_unit_id: Mapped[int | None] = mapped_column(ForeignKey("dictionary_entry.id"))
    product_name: Mapped[str | None] = mapped_column(String(60))
    quantity: Mapped[Decimal | None] = mapped_column(ExactDecimal(16, 3))
    #: 采购金额 in yuan, exact to the fen
    amount: Mapped[Decimal | None] = mapped_column(ExactDecimal(16, 2))
    status: Mapped[str] = mapped_column(String(10), default="draft")
    #: bumped by every change; an action names the version its actor looked at
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    #: warning flags computed at submission, comma-separated codes (see flags.py)
    flags: Mapped[str] = mapped_column(String(100), default="")
    return_reason: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime)
    #: when the record first reached its city office (or the province office): from then on
    #: that office may see it
    reached_city_at: Mapped[datetime | None] = mapped_column(DateTime)
    approved_at: Mapped[datetime | None] = mapped_column(DateTime)

    __mapper_args__ = {"version_id_col": version}

    unit = relationship("Unit", foreign_keys=[unit_id])
    first_reviewer = relationship("Unit", foreign_keys=[first_reviewer_id])
    created_by = relationship("Account")
    period = relationship(ReportingPeriod)
    origin_province = relationship("Region", foreign_keys=[origin_province_code])
    origin_city = relationship("Region", foreign_keys=[origin_city_code])
    origin_county = relationship("Region", foreign_keys=[origin_county_code])
    category = relationship("DictionaryEntry", foreign_keys=[category_id])
    measure_unit = relationship("DictionaryEntry", foreign_keys=[measure_unit_id])
    vouchers = relationship("Voucher", back_populates="record", order_by="Voucher.id")
    events = relationship("ReviewEvent", back_populates="record", order_by="ReviewEvent.id")

    @property
    def status_label(self):
        return STATUS_LABELS[self.status]

    @property
    def channel_label(self):
        return CHANNEL_LABELS[self.channel]

    @property
    def flag_codes(self):
        return [code for code in self.flags.split(",") if code]

    @property
    def region_label(self):
        parts = [r.name for r in (self.origin_province, self.origin_city, self.origin_county) if r]
        return " / ".join(parts)

    @property
    def unit_price(self):
        if self.amount is None or not self.quantity:
            return None
        return (self.amount / self.quantity).quantize(Decimal("0.01"))


class Voucher(db.Model):
    """A file that proves a purchase (采购凭证), kept under the instance folder, never in static/."""

    __tablename__ = "voucher"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("purchase_record.id"), index=True)
    #: invoice, contract, waybill or other
    kind: Mapped[str] = mapped_column(String(10))
    original_name: Mapped[str] = mapped_column(String(200))
    #: path under the instance's vouchers/ folder, generated, never from the uploader
    stored_name: Mapped[str] = mapped_column(String(80), unique=True)
    content_type: Mapped[str] = mapped_column(String(40))
    size: Mapped[int] = mapped_column(Integer)
    #: SHA-256 of the content: the same file on two records is a warning flag
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    uploaded_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    uploaded_by_id: Mapped[int] = mapped_column(ForeignKey("account.id"))

    record = relationship(PurchaseRecord, back_populates="vouchers")

    @property
    def kind_label(self):
        from portal.records.states import VOUCHER_KINDS
        return VOUCHER_KINDS[self.kind]

    @property
    def is_image(self):
        return self.content_type.startswith("image/")

    @property
    def display_name(self):
        """The name as shown and offered: rows from before names were cleaned may hold CR/LF
        or bidi overrides."""
        from portal.records.vouchers import download_name
        return download_name(self)


class ReviewEvent(db.Model):
    """One transition of a record: who, when, from, to, and why."""

    __tablename__ = "review_event"
    __table_args__ = (Index("ix_review_event_actor_unit", "actor_unit_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("purchase_record.id"), index=True)
    actor_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    actor_unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"))
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    #: submit, approve, return
    action: Mapped[str] = mapped_column(String(10))
    from_status: Mapped[str] = mapped_column(String(10))
    to_status: Mapped[str] = mapped_column(String(10))
    comment: Mapped[str | None] = mapped_column(String(200))
    #: JSON {field: [old, new]} of a resubmission after a return
    changes: Mapped[str | None] = mapped_column(Text)
    #: JSON of the record's fields as the reviewer returned them, for the next diff
    snapshot: Mapped[str | None] = mapped_column(Text)

    record = relationship(PurchaseRecord, back_populates="events")
    actor = relationship("Account")
    actor_unit = relationship("Unit")

    @property
    def action_label(self):
        return ACTION_LABELS[self.action]

    @property
    def from_label(self):
        return STATUS_LABELS[self.from_status]

    @property
    def to_label(self):
        return STATUS_LABELS[self.to_status]

    @property
    def change_map(self):
        return json.loads(self.changes) if self.changes else {}


class RecordTotal(db.Model):
    """Approved totals by period, city, channel, origin county and category, kept up to date in the
    transaction that approves each record, so that reports never scan the records."""

    __tablename__ = "record_total"
    # One covering index per breakdown of the province view, so each GROUP BY reads an index
    # in order instead of sorting the table (period_id leads the primary key already).
    __table_args__ = tuple(
        Index(f"ix_record_total_by_{name}", name, "record_count", "amount")
        for name in ("city_scope", "channel", "origin_county_code", "category_id")
    )

    period_id: Mapped[int] = mapped_column(ForeignKey("reporting_period.id"), primary_key=True)
    city_scope: Mapped[str] = mapped_column(String(6), primary_key=True)
    channel: Mapped[str] = mapped_column(String(20), primary_key=True)
    origin_county_code: Mapped[str] = mapped_column(ForeignKey("region.code"), primary_key=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("dictionary_entry.id"), primary_key=True)
    record_count: Mapped[int] = mapped_column(Integer, default=0)
    amount: Mapped[Decimal] = mapped_column(ExactDecimal(18, 2), default=Decimal("0"))


class RecordBreakdown(db.Model):
    """Approved totals one breakdown at a time (by month of approval, city, channel, origin county,
    category and reporting period), for the whole province (scope "") and for each city, by the
    year of approval in China. Kept in the approving transaction as record_total is: the totals
    pages without filters, the dashboards and the province office's home read these few hundred
    rows instead of grouping record_total (35,000 rows at a million records) once per breakdown."""

    __tablename__ = "record_breakdown"

    #: "" for the whole province, else the city scope (PROVINCE_SCOPE for the listed market)
    scope: Mapped[str] = mapped_column(String(6), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: one of BREAKDOWNS; the key is the month ("2024-03"), city scope, channel, county code,
    #: category id or period id, as text
    dimension: Mapped[str] = mapped_column(String(10), primary_key=True)
    key: Mapped[str] = mapped_column(String(20), primary_key=True)
    record_count: Mapped[int] = mapped_column(Integer, default=0)
    amount: Mapped[Decimal] = mapped_column(ExactDecimal(18, 2), default=Decimal("0"))


#: the breakdowns record_breakdown keeps ("city" for the whole province only)
BREAKDOWNS = ("month", "city", "channel", "county", "category", "period")
WHOLE_PROVINCE = ""


class QueueCounter(db.Model):
    """Live counts behind the queue tabs, changed with each transition."""

    __tablename__ = "queue_counter"

    #: "first:<unit id>" (pending at a market or supermarket), "city:<scope>" (pending at a
    #: city office), "done:<unit id>" (records a reviewing unit acted on)
    key: Mapped[str] = mapped_column(String(30), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


class PriceStat(db.Model):
    """Running statistics of log unit prices by category and unit of measure (approved records),
    against which a new record's unit price is flagged."""

    __tablename__ = "price_stat"

    category_id: Mapped[int] = mapped_column(ForeignKey("dictionary_entry.id"), primary_key=True)
    measure_unit_id: Mapped[int] = mapped_column(ForeignKey("dictionary_entry.id"), primary_key=True)
    samples: Mapped[int] = mapped_column(Integer, default=0)
    #: sum of ln(unit price): its mean is the typical price's logarithm
    sum_log: Mapped[float] = mapped_column(db.Float, default=0.0)
