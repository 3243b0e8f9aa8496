"""What the province office keeps up to date in the reference data: reporting periods
(填报类型, DESIGN §3: configurable, not hard-wired), the category and measure-unit lists, and
which assisted counties are 国家乡村振兴重点帮扶县. Each change is checked here and writes an
audit row; the caller commits.

Nothing is deleted: records keep the period, category and unit they were filed with, so a
period is closed and a list entry retired instead, and either can be reopened."""
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from portal import audit
from portal.accounts.kinds import UnitKind
from portal.clock import to_china, utcnow
from portal.errors import PermissionDenied, ValidationFailed
from portal.extensions import db
from portal.params import BadValue, parse_int
from portal.records.models import RecordTotal, ReportingPeriod
from portal.records.states import FILL_TYPES
from portal.reference.models import DictionaryEntry, Region

DICTIONARY_KINDS = {"category": "品类", "measure_unit": "单位"}
FIRST_YEAR = 2016          # the east-west pairing of this programme began in 2016
NAME_MAX = {"period": 40, "entry": 20}


def may_edit_reference(account):
    return account.unit.kind == UnitKind.PROVINCE_OFFICE and account.is_admin


def _check_editor(actor):
    if not may_edit_reference(actor):
        raise PermissionDenied("只有省东西部协作办公室管理员可以维护基础数据")


def current_china_year(now=None):
    return to_china(now or utcnow()).year


# -- reporting periods --------------------------------------------------------------------

def suggested_period_name(year, fill_type):
    return f"{year}年{FILL_TYPES[fill_type]}"


def add_period(actor, *, year, fill_type, name="", now=None):
    """Open a new reporting period; its name defaults to 2027年购销信息登记."""
    _check_editor(actor)
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
    if len(name) > NAME_MAX["period"]:
        errors["name"] = f"名称不能超过{NAME_MAX['period']}个字"
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
    _check_editor(actor)
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


# -- category and measure-unit lists -------------------------------------------------------

def add_entry(actor, *, kind, name):
    _check_editor(actor)
    if kind not in DICTIONARY_KINDS:
        raise ValidationFailed({"kind": "请选择要添加到哪个列表"})
    label = DICTIONARY_KINDS[kind]
    name = (name or "").strip()
    if not name:
        raise ValidationFailed({"name": f"请填写{label}名称"})
    if len(name) > NAME_MAX["entry"]:
        raise ValidationFailed({"name": f"{label}名称不能超过{NAME_MAX['entry']}个字"})
    existing = db.session.scalar(select(DictionaryEntry).where(DictionaryEntry.kind == kind,
                                                               DictionaryEntry.name == name))
    if existing is not None:
        hint = "" if existing.active else "，目前已停用，可在列表中重新启用"
        raise ValidationFailed({"name": f"{label}“{name}”已存在{hint}"})
    last = db.session.scalar(select(func.max(DictionaryEntry.position)).where(DictionaryEntry.kind == kind))
    entry = DictionaryEntry(kind=kind, name=name, position=(last or 0) + 1, active=True)
    db.session.add(entry)
    db.session.flush()
    audit.record("entry_added", actor=actor, object_ref=f"{kind}:{entry.id}", detail={"name": name})
    return entry


def set_entry_active(actor, entry, active):
    """Retire an entry from the entry form (records filed with it keep it) or bring it back."""
    _check_editor(actor)
    if entry.active != active:
        if not active:
            in_use = db.session.scalar(select(func.count()).select_from(DictionaryEntry).where(
                DictionaryEntry.kind == entry.kind, DictionaryEntry.active.is_(True)))
            if in_use <= 1:
                raise ValidationFailed({"entry": f"至少要保留一个可选的{DICTIONARY_KINDS[entry.kind]}"})
        entry.active = active
        audit.record("entry_enabled" if active else "entry_disabled", actor=actor,
                     object_ref=f"{entry.kind}:{entry.id}", detail={"name": entry.name})
    return entry


def dictionary_entries():
    entries = db.session.scalars(select(DictionaryEntry).order_by(DictionaryEntry.kind, DictionaryEntry.position,
                                                                  DictionaryEntry.id)).all()
    return {kind: [e for e in entries if e.kind == kind] for kind in DICTIONARY_KINDS}


# -- key counties ---------------------------------------------------------------------------

def set_key_county(actor, county, is_key):
    _check_editor(actor)
    if county.level != "county":
        raise ValidationFailed({"county": "只有县级地区可以标记为重点帮扶县"})
    if county.key_county != is_key:
        county.key_county = is_key
        audit.record("key_county_set" if is_key else "key_county_unset", actor=actor,
                     object_ref=f"region:{county.code}", detail={"name": county.name})
    return county


def counties_of(province_code=None):
    """Counties with their city and province, in code order; of one province if given."""
    query = (select(Region).where(Region.level == "county").order_by(Region.code)
             .options(joinedload(Region.parent).joinedload(Region.parent), joinedload(Region.helper_city)))
    if province_code:
        query = query.where(Region.code.startswith(province_code[:2], autoescape=True))
    return db.session.scalars(query).all()


def provinces():
    return db.session.scalars(select(Region).where(Region.level == "province").order_by(Region.code)).all()
