"""A budget unit's current contacts (个人中心). Seed 001: "如需修改预算单位联系人信息，可登录采购人
管理系统，在页面右上角'个人中心'进行修改".

The unit changes them at any time, outside the yearly form, by the rules of the form's step 2;
step 2 of a new form starts from them, and saving it brings them up to date. Every change is in
the audit trail, old and new values masked, with who made it. Who sees them: the unit, the
budget units above it in its department (its superior, its department head) and its finance
department. Nothing here reads the request; callers commit.
"""
import re

from sqlalchemy import select

from portal import audit
from portal.accounts.kinds import UnitKind
from portal.accounts.models import mask_phone
from portal.clock import utcnow
from portal.errors import PermissionDenied, ValidationFailed
from portal.extensions import db
from portal.personal_data import mask_name
from portal.reservations import form_rules, scope
from portal.reservations.models import UnitContacts

FIELDS = form_rules.CONTACT_FIELDS
#: the names the audit trail gives the fields
LABELS = {
    "contact_name": "填报预留份额联系人", "contact_mobile": "填报联系人手机号码",
    "contact_landline": "填报联系人固定电话", "union_contact_name": "工会采购预留份额联系人",
    "union_contact_mobile": "工会联系人手机号码", "union_contact_landline": "工会联系人固定电话",
}
#: the mobile fields a reveal button may show, by the name in its URL
MOBILES = {"contact": "contact_mobile", "union_contact": "union_contact_mobile"}
AUDIT_ACTION = "unit_contacts_changed"
_LANDLINE = re.compile(r"(0[0-9]{2,3})-([0-9]+)([0-9]{4})(?:-[0-9]+)?")


def current(unit_id):
    """The unit's current contacts, None while it has never had any."""
    return db.session.scalar(select(UnitContacts).where(UnitContacts.unit_id == unit_id))


def by_unit(unit_ids):
    """The current contacts of these units, by unit id; units that have none are absent."""
    ids = list(unit_ids)
    if not ids:
        return {}
    return {row.unit_id: row for row in db.session.scalars(select(UnitContacts).where(UnitContacts.unit_id.in_(ids)))}


def may_change(account):
    """Every active account of a budget unit keeps its own unit's contacts."""
    return scope.is_budget_unit(account)


def may_see(account, unit):
    """The unit itself, the budget units above it in its department, its finance department."""
    if unit.kind != UnitKind.BUDGET_UNIT:
        return False
    if scope.is_finance(account):
        finance = scope.finance_of(unit)
        return finance is not None and finance.id == account.unit_id
    return scope.is_budget_unit(account) and scope.in_department(account.unit, unit.id)


def initial(actor):
    """The contacts an edit starts from: the unit's current ones; for a unit that has none yet,
    the account's own name and mobile."""
    saved = current(actor.unit_id)
    if saved is not None:
        return {field: getattr(saved, field) for field in FIELDS}
    return {"contact_name": actor.name, "contact_mobile": actor.phone}


def values_for_form(actor, reservation):
    """What step 2 of the yearly form shows: the form's own contacts once it has them, before
    that the unit's current contacts (initial)."""
    if reservation.contact_mobile is not None:
        return {field: getattr(reservation, field) for field in FIELDS}
    return initial(actor)


def change(actor, data, *, now=None):
    """个人中心: the unit's account changes its current contacts; refused fields raise
    ValidationFailed with the same messages as step 2."""
    if not may_change(actor):
        raise PermissionDenied("只有预算单位可以修改本单位联系人信息")
    values, errors = form_rules.check_contacts(data)
    if errors:
        raise ValidationFailed(errors)
    return _store(actor, actor.unit_id, values, source="个人中心", now=now)


def follow_form(actor, reservation, *, now=None):
    """Step 2 of the yearly form was saved: its contacts become the unit's current contacts."""
    values = {field: getattr(reservation, field) for field in FIELDS}
    return _store(actor, reservation.unit_id, values, source=f"{reservation.year}年度预留份额填报", now=now)


def _store(actor, unit_id, values, *, source, now):
    row = current(unit_id)
    old = {field: getattr(row, field) if row is not None else None for field in FIELDS}
    changed = [field for field in FIELDS if old[field] != values[field]]
    if not changed:
        return row
    if row is None:
        row = UnitContacts(unit_id=unit_id)
        db.session.add(row)
    for field in FIELDS:
        setattr(row, field, values[field])
    row.updated_at, row.updated_by_id = now or utcnow(), actor.id
    db.session.flush()
    detail = {"来源": source, **{LABELS[field]: [masked(field, old[field]), masked(field, values[field])]
                                for field in changed}}
    audit.record(AUDIT_ACTION, actor=actor, object_ref=f"unit:{unit_id}", detail=detail)
    return row


def masked(field, value):
    """A contact value as the trail keeps it: 李*明, 139****5678, 020-****3000; empty as "（空）"."""
    if not value:
        return "（空）"
    if field.endswith("_name"):
        return mask_name(value)
    if field.endswith("_mobile"):
        return mask_phone(value)
    match = _LANDLINE.fullmatch(value)
    return f"{match[1]}-{'*' * len(match[2])}{match[3]}" if match else "****"
