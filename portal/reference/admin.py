"""What the province office keeps up to date in the reference data: the category and
measure-unit lists, and which assisted counties are 国家乡村振兴重点帮扶县. Each change is
checked here and writes an audit row; the caller commits. (The reporting periods, which the
same administrator keeps, belong to the purchase records: portal/records/periods.py.)

Nothing is deleted: records keep the category and unit they were filed with, so a list entry
is retired instead, and can be brought back."""
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from portal import audit
from portal.accounts.kinds import UnitKind
from portal.errors import PermissionDenied, ValidationFailed
from portal.extensions import db
from portal.reference.models import DictionaryEntry, Region

DICTIONARY_KINDS = {"category": "品类", "measure_unit": "单位"}
NAME_MAX = 20


def may_edit_reference(account):
    return account.unit.kind == UnitKind.PROVINCE_OFFICE and account.is_admin


def _check_editor(actor):
    if not may_edit_reference(actor):
        raise PermissionDenied("只有省东西部协作办公室管理员可以维护基础数据")


# -- category and measure-unit lists -------------------------------------------------------

def add_entry(actor, *, kind, name):
    _check_editor(actor)
    if kind not in DICTIONARY_KINDS:
        raise ValidationFailed({"kind": "请选择要添加到哪个列表"})
    label = DICTIONARY_KINDS[kind]
    name = (name or "").strip()
    if not name:
        raise ValidationFailed({"name": f"请填写{label}名称"})
    if len(name) > NAME_MAX:
        raise ValidationFailed({"name": f"{label}名称不能超过{NAME_MAX}个字"})
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
