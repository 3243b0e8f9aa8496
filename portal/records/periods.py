"""Reporting periods (填报类型, DESIGN §3: configurable, not hard-wired): the ones a year starts
with, and the province office opening and closing them. Each change is checked here and writes
an audit row; the caller commits.

Nothing is deleted: records keep the period they were filed in, so a period is closed instead,
and it can be reopened. The periods belong to the purchase records, not to the reference data,
which knows nothing of either workflow (tests/test_periods_layering.py)."""
from sqlalchemy import func, select

from portal import audit
from portal.clock import to_china, utcnow
from portal.errors import PermissionDenied, ValidationFailed
from portal.extensions import db
from portal.params import BadValue, parse_int
from portal.records.models import RecordTotal, ReportingPeriod
from portal.records.states import FILL_TYPES
from portal.reference.admin import may_edit_reference

FIRST_YEAR = 2016          # the east-west pairing of this programme began in 2016
NAME_MAX = 40


def may_manage_periods(account):
    """The province office's administrator, who keeps the rest of 基础数据 too."""
    return may_edit_reference(account)


def _check_manager(actor):
    if not may_manage_periods(actor):
        raise PermissionDenied("只有省东西部协作办公室管理员可以维护基础数据")


def current_china_year(now=None):
    return to_china(now or utcnow()).year


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


def suggested_period_name(year, fill_type):
    return f"{year}年{FILL_TYPES[fill_type]}"


def add_period(actor, *, year, fill_type, name="", now=None):
    """Open a new reporting period; its name defaults to 2027年购销信息登记."""
    _check_manager(actor)
    errors = {}
    latest = current_china_year(now) + 1
    try:
        year = parse_int(year, maximum=9999)
    except BadValue:
        year = None
    if year is None:
        errors["year"] = "请填写年度，如 2027"
    elif not FIRST_YEAR <= year <= latest:
        errors["year"] = f"年度应在 {FIRST_YEAR} 至 {latest} 之间"
    if fill_type not in FILL_TYPES:
        errors["fill_type"] = "请选择填报类型"
    name = (name or "").strip()
    if not name and not errors:
        name = suggested_period_name(year, fill_type)
    if len(name) > NAME_MAX:
        errors["name"] = f"名称不能超过{NAME_MAX}个字"
    elif name and db.session.scalar(select(ReportingPeriod.id).where(ReportingPeriod.name == name)):
        errors["name"] = f"已有名为“{name}”的填报期"
    if errors:
        raise ValidationFailed(errors)
    period = ReportingPeriod(name=name, fill_type=fill_type, year=year, open=True)
    db.session.add(period)
    db.session.flush()
    audit.record("period_added", actor=actor, object_ref=f"period:{period.id}", detail={"name": name})
    return period


def set_period_open(actor, period, is_open):
    """Close a period (no record can be saved or submitted in it any more: a draft filed under
    it is saved again under an open one) or reopen it."""
    _check_manager(actor)
    if period.open != is_open:
        period.open = is_open
        audit.record("period_opened" if is_open else "period_closed", actor=actor,
                     object_ref=f"period:{period.id}", detail={"name": period.name})
    return period


def periods_with_totals():
    """Every period, newest first, with its approved record count and amount (from the totals
    the workflow keeps, so that the page does not count a million records)."""
    totals = dict((period_id, (count, amount)) for period_id, count, amount in db.session.execute(
        select(RecordTotal.period_id, func.sum(RecordTotal.record_count), func.sum(RecordTotal.amount))
        .group_by(RecordTotal.period_id)))
    periods = db.session.scalars(select(ReportingPeriod).order_by(ReportingPeriod.year.desc(),
                                                                  ReportingPeriod.id.desc())).all()
    return [(period, *totals.get(period.id, (0, 0))) for period in periods]


def missing_current_period(now=None):
    """The year whose 购销信息登记 period is not open yet, or None: after New Year the
    province has to open one before anyone can file this year's records."""
    year = current_china_year(now)
    open_now = db.session.scalar(select(ReportingPeriod.id).where(
        ReportingPeriod.year == year, ReportingPeriod.fill_type == "current", ReportingPeriod.open.is_(True)))
    return None if open_now else year
