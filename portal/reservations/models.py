import json
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Boolean, Date, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.clock import utcnow
from portal.dbtypes import EncryptedText, ExactDecimal
from portal.extensions import db
from portal.reservations.states import ACTION_LABELS, CANTEEN_TYPES, SHARED_FILLERS, SHEET_STAGES, STATUS_LABELS


class YearPolicy(db.Model):
    """One year's rules, set by the province finance department: data, not code, since other
    provinces' notices differ on every figure."""

    __tablename__ = "year_policy"

    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: the province's minimum reservation ratio, in percent (Guangdong 2024: 30)
    min_ratio: Mapped[Decimal] = mapped_column(ExactDecimal(5, 2))
    #: the ratio the national notice encourages (15)
    encouraged_ratio: Mapped[Decimal] = mapped_column(ExactDecimal(5, 2))
    #: the national floor (10)
    national_floor: Mapped[Decimal] = mapped_column(ExactDecimal(5, 2))
    #: last day of filing (2024: 20 February), in China's calendar
    filing_deadline: Mapped[date] = mapped_column(Date)
    #: the province may extend filing after the deadline
    extended_until: Mapped[date | None] = mapped_column(Date)
    superior_deadline: Mapped[date | None] = mapped_column(Date)
    finance_deadline: Mapped[date | None] = mapped_column(Date)
    #: flag a ratio or amount below last year's for the confirming units
    flag_below_last_year: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"))

    @property
    def last_filing_day(self):
        return max(self.filing_deadline, self.extended_until or self.filing_deadline)


class Reservation(db.Model):
    """A budget unit's reserved-share form for one year (附件1)."""

    __tablename__ = "reservation"
    __table_args__ = (
        UniqueConstraint("unit_id", "year", name="uq_reservation_unit_year"),
        Index("ix_reservation_year_status", "year", "status"),
        # the superior's and the finance department's queues, a page by key
        Index("ix_reservation_superior_queue", "superior_id", "year", "status", "submitted_at", "id"),
        Index("ix_reservation_finance_queue", "finance_id", "year", "status", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"))
    year: Mapped[int] = mapped_column(ForeignKey("year_policy.year"))
    #: own, outsourced, shared or none
    canteen_type: Mapped[str | None] = mapped_column(String(12))
    #: for a shared canteen: self (由本单位填写) or other (由其他单位填写)
    shared_filler: Mapped[str | None] = mapped_column(String(6))
    remark: Mapped[str | None] = mapped_column(String(50))
    #: 年度食堂食材采购总额 (元)
    canteen_total: Mapped[Decimal | None] = mapped_column(ExactDecimal(16, 2))
    #: 预留比例 in percent: 12 means 12%
    ratio: Mapped[Decimal | None] = mapped_column(ExactDecimal(5, 2))
    #: 预留份额 = total × ratio, to the fen, half up
    reserved_amount: Mapped[Decimal | None] = mapped_column(ExactDecimal(16, 2))
    union_need: Mapped[bool | None] = mapped_column(Boolean)
    #: required when there is no union purchase need: why
    union_remark: Mapped[str | None] = mapped_column(String(50))
    union_total: Mapped[Decimal | None] = mapped_column(ExactDecimal(16, 2))
    union_ratio: Mapped[Decimal | None] = mapped_column(ExactDecimal(5, 2))
    #: 通过832平台预计采购金额 = union total × union ratio
    union_expected: Mapped[Decimal | None] = mapped_column(ExactDecimal(16, 2))
    #: the contacts' names and mobile numbers are personal data, kept SM4-encrypted
    contact_name: Mapped[str | None] = mapped_column(EncryptedText("reservation.contact_name"))
    contact_mobile: Mapped[str | None] = mapped_column(EncryptedText("reservation.contact_mobile"))
    contact_landline: Mapped[str | None] = mapped_column(String(20))
    union_contact_name: Mapped[str | None] = mapped_column(EncryptedText("reservation.union_contact_name"))
    union_contact_mobile: Mapped[str | None] = mapped_column(EncryptedText("reservation.union_contact_mobile"))
    union_contact_landline: Mapped[str | None] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(10), default="draft")
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    #: the unit whose accounts confirm before finance; None when the form goes straight to finance
    superior_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"), index=True)
    #: the finance department that confirms last
    finance_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), index=True)
    #: set when the department's head submitted the confirmed forms to finance
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("reservation_batch.id"))
    attested_at: Mapped[datetime | None] = mapped_column(DateTime)
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime)
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime)
    confirmed_by_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"))
    finalized_at: Mapped[datetime | None] = mapped_column(DateTime)
    finalized_by_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"))
    return_reason: Mapped[str | None] = mapped_column(String(200))
    #: JSON of the figures as they were returned, shown beside the form while it is edited
    returned_values: Mapped[str | None] = mapped_column(Text)
    #: comma-separated codes of unusual filings (see flags in rules.py)
    flags: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    __mapper_args__ = {"version_id_col": version}

    unit = relationship("Unit", foreign_keys=[unit_id])
    superior = relationship("Unit", foreign_keys=[superior_id])
    finance = relationship("Unit", foreign_keys=[finance_id])
    policy = relationship(YearPolicy)
    confirmed_by = relationship("Account", foreign_keys=[confirmed_by_id])
    finalized_by = relationship("Account", foreign_keys=[finalized_by_id])
    batch = relationship("ReservationBatch", back_populates="reservations")
    events = relationship("ReservationEvent", back_populates="reservation", order_by="ReservationEvent.id")
    sheets = relationship("ConfirmationSheet", back_populates="reservation", order_by="ConfirmationSheet.id")

    @property
    def status_label(self):
        return STATUS_LABELS[self.status]

    @property
    def canteen_label(self):
        label = CANTEEN_TYPES.get(self.canteen_type, "")
        if self.canteen_type == "shared" and self.shared_filler:
            label += "-" + SHARED_FILLERS[self.shared_filler]
        return label

    @property
    def flag_codes(self):
        return [code for code in (self.flags or "").split(",") if code]

    @property
    def returned_snapshot(self):
        return json.loads(self.returned_values) if self.returned_values else None


class BudgetUnitAncestor(db.Model):
    """A budget unit and a unit whose lists hold it: itself, each budget unit above it in its
    department, and its nearest finance department. Written once, as the unit is opened (units
    never move), by tallies.py; a list pages through a unit's rows by key."""

    __tablename__ = "budget_unit_ancestor"

    ancestor_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), primary_key=True, index=True)


class ReservationTally(db.Model):
    """A count a superior's or finance department's page shows, kept by tallies.py in the
    transaction of each change: forms of a year by state (key), active units (year 0), forms
    waiting for the unit (to_confirm, to_finalize)."""

    __tablename__ = "reservation_tally"

    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(12), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


class ReservationBatch(db.Model):
    """A department head's submission of its confirmed forms to the finance department."""

    __tablename__ = "reservation_batch"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    year: Mapped[int] = mapped_column(Integer)
    head_unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"))
    finance_id: Mapped[int] = mapped_column(ForeignKey("unit.id"))
    submitted_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    submitted_by_id: Mapped[int] = mapped_column(ForeignKey("account.id"))

    head_unit = relationship("Unit", foreign_keys=[head_unit_id])
    reservations = relationship(Reservation, back_populates="batch")


class ReservationEvent(db.Model):
    __tablename__ = "reservation_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reservation_id: Mapped[int] = mapped_column(ForeignKey("reservation.id"), index=True)
    actor_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    actor_unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"))
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    action: Mapped[str] = mapped_column(String(16))
    from_status: Mapped[str] = mapped_column(String(10))
    to_status: Mapped[str] = mapped_column(String(10))
    comment: Mapped[str | None] = mapped_column(String(200))

    reservation = relationship(Reservation, back_populates="events")
    actor = relationship("Account")
    actor_unit = relationship("Unit")

    @property
    def action_label(self):
        return ACTION_LABELS[self.action]


class ConfirmationSheet(db.Model):
    """A PDF confirmation sheet: made at submission and at each confirmation, never overwritten."""

    __tablename__ = "confirmation_sheet"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reservation_id: Mapped[int] = mapped_column(ForeignKey("reservation.id"), index=True)
    #: submitted, confirmed or final (SHEET_STAGES)
    stage: Mapped[str] = mapped_column(String(10))
    #: the random code printed on the sheet, by which the portal shows this sheet's record
    verification_code: Mapped[str] = mapped_column(String(16), unique=True)
    stored_name: Mapped[str] = mapped_column(String(80), unique=True)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    #: JSON of every figure printed, so the verification page shows what this sheet says;
    #: encrypted, since it holds the contacts' names and numbers
    printed_values: Mapped[str] = mapped_column(EncryptedText("confirmation_sheet.printed_values", length=None))

    reservation = relationship(Reservation, back_populates="sheets")
    created_by = relationship("Account")

    @property
    def stage_label(self):
        return SHEET_STAGES[self.stage]

    @property
    def printed(self):
        return json.loads(self.printed_values)


class UnitChange(db.Model):
    """合并、撤销、更名 of a budget unit, kept so that past filings keep their history."""

    __tablename__ = "unit_change"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), index=True)
    #: rename, merge or close
    kind: Mapped[str] = mapped_column(String(10))
    old_name: Mapped[str] = mapped_column(String(100))
    new_name: Mapped[str | None] = mapped_column(String(100))
    #: for a merge: the unit that continues
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"))
    reason: Mapped[str | None] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    by_id: Mapped[int] = mapped_column(ForeignKey("account.id"))

    unit = relationship("Unit", foreign_keys=[unit_id])
    merged_into = relationship("Unit", foreign_keys=[merged_into_id])


class UnitContacts(db.Model):
    """A budget unit's current contacts (个人中心): changed by the unit at any time, and by step 2
    of each year's form; the superior and finance see them. One row per unit."""

    __tablename__ = "unit_contacts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), unique=True)
    #: 填报预留份额联系人 and 工会采购预留份额联系人: names and mobiles SM4-encrypted, as the form's
    contact_name: Mapped[str | None] = mapped_column(EncryptedText("unit_contacts.contact_name"))
    contact_mobile: Mapped[str | None] = mapped_column(EncryptedText("unit_contacts.contact_mobile"))
    contact_landline: Mapped[str | None] = mapped_column(String(20))
    union_contact_name: Mapped[str | None] = mapped_column(EncryptedText("unit_contacts.union_contact_name"))
    union_contact_mobile: Mapped[str | None] = mapped_column(EncryptedText("unit_contacts.union_contact_mobile"))
    union_contact_landline: Mapped[str | None] = mapped_column(String(20))
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    #: who changed them last; None when the migration copied them from the unit's newest form
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"))

    unit = relationship("Unit")
    updated_by = relationship("Account")
