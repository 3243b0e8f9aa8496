"""Renaming, closing and merging budget units (更名、撤销、合并).

A unit is never deleted: it is renamed in place or closed (active=False), and each change is
kept as a UnitChange row beside its audit row, so past filings (Reservation rows, which
point at the unit) keep their unit and their history. Callers commit; nothing reads the request.
"""
from sqlalchemy import select

from portal import audit
from portal.accounts import rules, service
from portal.accounts.kinds import UnitKind
from portal.accounts.models import Account
from portal.accounts.sessions import end_all_sessions
from portal.errors import PermissionDenied, ValidationFailed
from portal.extensions import db
from portal.reservations import queries, scope
from portal.reservations.models import UnitChange

CHANGE_LABELS = {"rename": "更名", "close": "撤销", "merge": "合并"}
REASON_MAX = 200


def may_change_unit(account, unit):
    """The admin of the unit's finance department, or of its direct parent, changes a budget unit;
    never the unit's own accounts."""
    if unit.kind != UnitKind.BUDGET_UNIT or unit.id == account.unit_id:
        return False
    if rules.may_manage_unit(account, unit):
        return True
    finance = scope.finance_of(unit)
    return (finance is not None and finance.id == account.unit_id
            and account.is_admin and account.is_active)


def units_under(finance):
    """Every budget unit of this finance department, closed ones too, as (unit, depth) in tree order."""
    units = queries.finance_units(finance)
    children = {}
    for unit in units:
        children.setdefault(unit.parent_id, []).append(unit)
    ordered = []

    def walk(parent_id, depth):
        for unit in sorted(children.get(parent_id, ()), key=lambda u: u.id):
            ordered.append((unit, depth))
            walk(unit.id, depth + 1)

    walk(finance.id, 0)
    return ordered


def merge_targets(unit):
    """Active budget units of the same finance department another unit may be merged into."""
    finance = scope.finance_of(unit)
    if finance is None:
        return []
    return [u for u, _ in units_under(finance) if u.active and u.id != unit.id]


def history(unit_ids, limit=200):
    """Changes of these units, newest first."""
    if not unit_ids:
        return []
    return db.session.scalars(select(UnitChange).where(UnitChange.unit_id.in_(unit_ids))
                              .order_by(UnitChange.at.desc(), UnitChange.id.desc()).limit(limit)).all()


def _allowed_or_refuse(actor, unit, action):
    if not may_change_unit(actor, unit):
        audit.record(action, actor=actor, object_ref=f"unit:{unit.id}", result="denied")
        raise PermissionDenied()


def _reason(errors, reason):
    reason = (reason or "").strip()
    if not reason:
        errors["reason"] = "请填写原因或依据（如机构改革文件文号）"
    elif len(reason) > REASON_MAX:
        errors["reason"] = f"原因不能超过{REASON_MAX}个字"
    return reason


def _check_active(errors, unit):
    if not unit.active:
        errors["unit"] = "该单位已撤销，不能再变更"


def _record(actor, unit, kind, action, *, reason, new_name=None, merged_into=None, detail=None):
    change = UnitChange(unit_id=unit.id, kind=kind, old_name=unit.name, new_name=new_name,
                        merged_into_id=merged_into.id if merged_into else None, reason=reason, by_id=actor.id)
    db.session.add(change)
    audit.record(action, actor=actor, object_ref=f"unit:{unit.id}",
                 detail={"name": unit.name, "reason": reason, **(detail or {})})
    return change


def rename_unit(actor, unit, new_name, reason):
    """更名: the unit keeps its id, accounts and filings; the old name stays in its history."""
    _allowed_or_refuse(actor, unit, "unit_renamed")
    errors = {}
    _check_active(errors, unit)
    new_name = (new_name or "").strip()
    if not new_name:
        errors["new_name"] = "请填写新的单位名称"
    elif len(new_name) > service.NAME_MAX:
        errors["new_name"] = f"单位名称不能超过{service.NAME_MAX}个字"
    elif new_name == unit.name:
        errors["new_name"] = "新名称与原名称相同"
    else:
        finance = scope.finance_of(unit)
        if finance is not None and any(u.active and u.name == new_name and u.id != unit.id
                                       for u, _ in units_under(finance)):
            errors["new_name"] = "本财政部门下已有同名的预算单位"
    reason = _reason(errors, reason)
    if errors:
        raise ValidationFailed(errors)
    change = _record(actor, unit, "rename", "unit_renamed", reason=reason, new_name=new_name,
                     detail={"name": [unit.name, new_name]})
    unit.name = new_name
    db.session.flush()
    return change


def _check_closable(errors, unit):
    _check_active(errors, unit)
    if unit.active and scope.has_subordinates(unit):
        errors["unit"] = "该单位还有未撤销的下级预算单位，请先撤销或合并其下级单位"


def _close(actor, unit):
    """Close the unit and disable its accounts, ending their sessions at once."""
    unit.active = False
    for account in db.session.scalars(select(Account).where(Account.unit_id == unit.id,
                                                            Account.active.is_(True))).all():
        if rules.may_manage_account(actor, account):
            service.set_account_active(actor, account, False)
        else:
            # A finance admin above the direct parent: the same steps as set_account_active, whose
            # rule only knows the parent, with the finance admin named in the audit row.
            account.active = False
            end_all_sessions(account, "disabled")
            audit.record("account_disabled", actor=actor, object_ref=f"account:{account.id}",
                         detail={"phone": account.masked_phone, "unit": unit.name})


def close_unit(actor, unit, reason):
    """撤销: the unit stays, closed, with its filings; its accounts can no longer log in."""
    _allowed_or_refuse(actor, unit, "unit_closed")
    errors = {}
    _check_closable(errors, unit)
    reason = _reason(errors, reason)
    if errors:
        raise ValidationFailed(errors)
    change = _record(actor, unit, "close", "unit_closed", reason=reason)
    _close(actor, unit)
    db.session.flush()
    return change


def merge_unit(actor, unit, into, reason):
    """合并: the unit is closed and recorded as merged into another active budget unit of the
    same finance department, which continues."""
    _allowed_or_refuse(actor, unit, "unit_merged")
    errors = {}
    _check_closable(errors, unit)
    if into is None:
        errors["into"] = "请选择并入的单位"
    elif into.id == unit.id:
        errors["into"] = "不能并入本单位"
    elif into.kind != UnitKind.BUDGET_UNIT or not into.active:
        errors["into"] = "只能并入未撤销的预算单位"
    elif scope.finance_of(into) is None or scope.finance_of(into).id != getattr(scope.finance_of(unit), "id", None):
        errors["into"] = "只能并入同一财政部门下的预算单位"
    reason = _reason(errors, reason)
    if errors:
        raise ValidationFailed(errors)
    change = _record(actor, unit, "merge", "unit_merged", reason=reason, merged_into=into,
                     detail={"merged_into": into.name, "merged_into_id": into.id})
    _close(actor, unit)
    db.session.flush()
    return change
