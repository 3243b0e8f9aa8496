"""The reporting periods (填报类型) a year starts with; the province may add or close them."""
from sqlalchemy import select

from portal.extensions import db
from portal.records.models import ReportingPeriod
from portal.records.states import FILL_TYPES


def ensure_year_periods(year):
    existing = set(db.session.scalars(select(ReportingPeriod.name)))
    for fill_type, label in FILL_TYPES.items():
        name = f"{year}年{label}"
        if name not in existing:
            db.session.add(ReportingPeriod(name=name, fill_type=fill_type, year=year, open=True))
    db.session.flush()


def open_periods():
    return db.session.scalars(
        select(ReportingPeriod).where(ReportingPeriod.open.is_(True))
        .order_by(ReportingPeriod.year.desc(), ReportingPeriod.fill_type)
    ).all()
