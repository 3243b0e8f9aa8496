"""What units bought on the 832 platform, as finance departments import it over the year."""
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Date, DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.clock import utcnow
from portal.dbtypes import ExactDecimal
from portal.extensions import db


class FulfilmentImport(db.Model):
    """One 832 statistics workbook a finance department imported: never overwritten, so that a
    unit's purchases over the year are a series of as-of dates."""

    __tablename__ = "fulfilment_import"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: the finance department that imported it (its units, and those of the levels below)
    finance_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), index=True)
    #: the reserved-share year the purchases count against
    year: Mapped[int] = mapped_column(Integer)
    #: the statistics' 截止日期: purchases are cumulative from 1 January to this day
    as_of: Mapped[date] = mapped_column(Date)
    filename: Mapped[str] = mapped_column(String(200))
    sha256: Mapped[str] = mapped_column(String(64))
    line_count: Mapped[int] = mapped_column(Integer)
    canteen_total: Mapped[Decimal] = mapped_column(ExactDecimal(18, 2))
    union_total: Mapped[Decimal] = mapped_column(ExactDecimal(18, 2))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("account.id"))

    finance = relationship("Unit")
    created_by = relationship("Account")
    lines = relationship("FulfilmentLine", back_populates="source", order_by="FulfilmentLine.id")


class FulfilmentLine(db.Model):
    """One unit's cumulative 832 purchases of the year up to its import's as-of date."""

    __tablename__ = "fulfilment_line"
    __table_args__ = (Index("ix_fulfilment_line_year_unit_as_of", "year", "unit_id", "as_of"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    import_id: Mapped[int] = mapped_column(ForeignKey("fulfilment_import.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"))
    #: the import's year and as-of date, repeated so that "the latest figure on a day" reads one index
    year: Mapped[int] = mapped_column(Integer)
    as_of: Mapped[date] = mapped_column(Date)
    #: 食堂食材 bought on 832 since 1 January (元)
    canteen_amount: Mapped[Decimal] = mapped_column(ExactDecimal(16, 2))
    #: 工会 purchases on 832 since 1 January (元)
    union_amount: Mapped[Decimal] = mapped_column(ExactDecimal(16, 2))
    #: the name the workbook gave, when it differs from the unit's own (a hint kept for checking)
    listed_name: Mapped[str | None] = mapped_column(String(100))

    source = relationship(FulfilmentImport, back_populates="lines")
    unit = relationship("Unit")
