"""Operations on units and accounts. Each checks its rule, changes, and writes its audit row.

Callers commit; nothing here reads the request.
"""
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError

from portal import audit, personal_data
from portal.accounts import rules
from portal.accounts.kinds import AccountRole, AdminRole, FinanceLevel, UnitKind
from portal.accounts.models import Account, Unit, mask_phone
from portal.accounts.sessions import end_all_sessions
from portal.accounts.validators import MOBILE_FORMAT_MESSAGE, normalize_credit_code, normalize_mobile
from portal.clock import utcnow
from portal.errors import PermissionDenied, ValidationFailed
from portal.extensions import db
from portal.reference.models import GuangdongCity

NAME_MAX = 100
CONTACT_MAX = 40
PHONE_TAKEN = "该手机号已开通账号（一个手机号只能对应一个单位账号）"


def _check_contact(errors, contact_name, phone, *, phone_field="phone", name_field="contact_name",
                   except_account=None, check_taken=True):
    contact_name = (contact_name or "").strip()
    if not contact_name:
        errors[name_field] = "请填写联系人姓名"
    elif len(contact_name) > CONTACT_MAX:
        errors[name_field] = f"联系人姓名不能超过{CONTACT_MAX}个字"
    mobile = normalize_mobile(phone)
    if not (phone or "").strip():
        errors[phone_field] = "请填写手机号码"
    elif mobile is None:
        errors[phone_field] = MOBILE_FORMAT_MESSAGE
    elif check_taken and phone_taken(mobile, except_account):
        errors[phone_field] = PHONE_TAKEN
    return contact_name, mobile


def _flush(phone_field="phone"):
    """Write the new or changed account now. A number taken by another request at the same
    moment is refused by the unique constraint, and answered like one taken before; the caller
    rolls back on ValidationFailed, as for every refusal."""
    try:
        db.session.flush()
    except IntegrityError as exc:
        reason = str(exc.orig)
        # SQLite names the column, PostgreSQL the constraint.
        if "account.phone" in reason or "uq_account_phone" in reason:
            raise ValidationFailed({phone_field: PHONE_TAKEN}) from None
        if "unit.credit_code" in reason or "uq_unit_credit_code" in reason:
            raise ValidationFailed({"credit_code": "该统一社会信用代码已登记"}) from None
        raise


def search_units_clause(text):
    """Units whose name holds the text, or with an account whose contact is named exactly so, or
    whose number is the one typed in full or holds the digits typed of its masked form (the
    first three, the last four: numbers and names are encrypted, only these can be compared)."""
    conditions = [Unit.name.contains(text, autoescape=True),  # a typed % or _ is a character
                  Unit.accounts.any(Account.name_key.in_(personal_data.name_keys(text))),
                  Unit.accounts.any(Account.phone_masked.contains(text, autoescape=True))]
    mobile = normalize_mobile(text)
    if mobile:
        conditions.append(Unit.accounts.any(Account.with_phone(mobile)))
    return or_(*conditions)


def phone_taken(mobile, except_account=None):
    query = select(Account.id).where(Account.with_phone(mobile))
    if except_account is not None:
        query = query.where(Account.id != except_account.id)
    return db.session.scalar(query) is not None


def _check_credit_code(errors, credit_code, *, required):
    credit_code = (credit_code or "").strip().upper()
    if not credit_code:
        if required:
            errors["credit_code"] = "请填写统一社会信用代码"
        return None
    normalized = normalize_credit_code(credit_code)
    if normalized is None:
        errors["credit_code"] = "统一社会信用代码不正确（应为18位，且校验位正确）"
        return None
    if db.session.scalar(select(Unit.id).where(Unit.credit_code == normalized)) is not None:
        errors["credit_code"] = "该统一社会信用代码已登记"
    return normalized


def _check_unit_name(errors, name):
    name = (name or "").strip()
    if not name:
        errors["name"] = "请填写单位名称"
    elif len(name) > NAME_MAX:
        errors["name"] = f"单位名称不能超过{NAME_MAX}个字"
    return name


def _city_or_error(errors, city_code):
    city = db.session.get(GuangdongCity, city_code) if city_code else None
    if city is None:
        errors["city_code"] = "请选择所在地级市"
    return city


def open_unit(actor, *, kind, name, contact_name, phone, city_code=None, credit_code=None):
    """Open a unit below the actor's unit together with its first (admin) account."""
    try:
        kind = UnitKind(kind)
    except ValueError:
        raise ValidationFailed({"kind": "请选择单位类型"}) from None
    if not rules.may_open(actor, kind):
        audit.record("unit_opened", actor=actor, result="denied", detail={"kind": kind.value})
        raise PermissionDenied(f"您的单位不能开通“{kind.label}”")

    errors = {}
    name = _check_unit_name(errors, name)
    credit = _check_credit_code(errors, credit_code, required=False)
    contact_name, mobile = _check_contact(errors, contact_name, phone)
    parent = actor.unit
    finance_level = rules.finance_level_opened(actor) if kind == UnitKind.FINANCE else None

    if rules.new_unit_needs_city(actor, kind):
        city = _city_or_error(errors, city_code)
        unit_city = city.code if city else None
        if city and _has_unit(kind, city.code, finance_level):
            errors["city_code"] = f"{city.name}已开通{UnitKind(kind).label}"
    else:
        unit_city = parent.city_code
    if kind in rules.SINGLETON_KINDS or finance_level == FinanceLevel.PROVINCE:
        if _has_unit(kind, None, finance_level):
            errors["kind"] = f"已开通{kind.label}，不能重复开通"
    if errors:
        raise ValidationFailed(errors)

    unit = Unit(name=name, kind=kind.value, parent=parent, city_code=unit_city, credit_code=credit,
                finance_level=finance_level.value if finance_level else None, created_by_id=actor.id)
    account = Account(unit=unit, phone=mobile, name=contact_name, role=AccountRole.ADMIN,
                      created_by_id=actor.id)
    db.session.add_all([unit, account])
    _flush()
    audit.record("unit_opened", actor=actor, object_ref=f"unit:{unit.id}",
                 detail={"kind": kind.value, "name": name, "city": unit_city,
                         "first_account": account.masked_phone})
    return unit


def _has_unit(kind, city_code, finance_level):
    query = select(func.count(Unit.id)).where(Unit.kind == kind, Unit.city_code.is_(None)
                                              if city_code is None else Unit.city_code == city_code)
    if finance_level is not None:
        query = query.where(Unit.finance_level == finance_level.value)
    return db.session.scalar(query) > 0


def add_account(actor, unit, *, contact_name, phone):
    """Add a further account to a unit: a reviewer to an office, staff to any other unit."""
    if not rules.may_manage_unit(actor, unit):
        audit.record("account_added", actor=actor, object_ref=f"unit:{unit.id}", result="denied")
        raise PermissionDenied()
    errors = {}
    contact_name, mobile = _check_contact(errors, contact_name, phone)
    if errors:
        raise ValidationFailed(errors)
    has_admin = any(a.role == AccountRole.ADMIN for a in unit.accounts)
    role = AccountRole.STAFF if has_admin or unit.id == actor.unit_id else AccountRole.ADMIN
    account = Account(unit=unit, phone=mobile, name=contact_name, role=role, created_by_id=actor.id)
    db.session.add(account)
    _flush()
    audit.record("account_added", actor=actor, object_ref=f"account:{account.id}",
                 detail={"unit": unit.name, "phone": account.masked_phone, "role": role.value})
    return account


def edit_contact(actor, account, *, contact_name, phone):
    if not rules.may_manage_account(actor, account):
        audit.record("account_edited", actor=actor, object_ref=f"account:{account.id}", result="denied")
        raise PermissionDenied()
    errors = {}
    contact_name, mobile = _check_contact(errors, contact_name, phone, except_account=account)
    if errors:
        raise ValidationFailed(errors)
    changes = {}
    if contact_name != account.name:
        # the trail outlives the account and cannot be edited: names in it are masked
        changes["name"] = [personal_data.mask_name(account.name), personal_data.mask_name(contact_name)]
        account.name = contact_name
    if mobile != account.phone:
        changes["phone"] = [account.masked_phone, mask_phone(mobile)]
        account.phone = mobile
        _flush()
        # A new number is a new identity: sessions opened with the old one end.
        end_all_sessions(account, "phone_changed")
    if changes:
        audit.record("account_edited", actor=actor, object_ref=f"account:{account.id}", detail=changes)
    return account


def contact_for_editing(actor, account):
    """The contact as the edit form shows it, with the full number: a view of another person's
    number is in the trail (personal_data_viewed), as the reveal button's is."""
    if not rules.may_manage_account(actor, account):
        raise PermissionDenied()
    if account.id != actor.id:
        audit.record("personal_data_viewed", actor=actor, object_ref=f"account:{account.id}",
                     detail={"field": "phone", "page": "edit"})
    return {"contact_name": account.name, "phone": account.phone}


def set_account_active(actor, account, active):
    """Disable or enable an account; disabling ends its open sessions. Accounts are never deleted."""
    action = "account_enabled" if active else "account_disabled"
    if not rules.may_set_account_active(actor, account):
        audit.record(action, actor=actor, object_ref=f"account:{account.id}", result="denied")
        raise PermissionDenied()
    if account.active == active:
        return account
    account.active = active
    if active:
        account.reactivated_at = utcnow()  # a dormant account's period starts anew
    else:
        end_all_sessions(account, "disabled")
    audit.record(action, actor=actor, object_ref=f"account:{account.id}",
                 detail={"phone": account.masked_phone, "unit": account.unit.name})
    return account


def _validated_registration(name, credit_code, contact_name, phone, city_code, *, check_taken=True):
    errors = {}
    values = {
        "name": _check_unit_name(errors, name),
        "credit_code": _check_credit_code(errors, credit_code, required=True),
    }
    values["contact_name"], values["phone"] = _check_contact(errors, contact_name, phone,
                                                             check_taken=check_taken)
    values["city"] = _city_or_error(errors, city_code)
    return errors, values


def check_registration(*, name, credit_code, contact_name, phone, city_code):
    """The registration checks alone, to refuse bad input before a code is spent.

    All but whether the number already has an account: told before the SMS code is checked,
    that would let anyone learn which numbers are registered. The owner of such a number was
    told by SMS instead of receiving a code, and register_enterprise refuses it in the end.
    """
    errors, _ = _validated_registration(name, credit_code, contact_name, phone, city_code, check_taken=False)
    return errors


def register_enterprise(*, name, credit_code, contact_name, phone, city_code):
    """Open a self-registered enterprise; the caller has checked the SMS code first."""
    errors, values = _validated_registration(name, credit_code, contact_name, phone, city_code)
    if errors:
        raise ValidationFailed(errors)
    city = values["city"]
    unit = Unit(name=values["name"], kind=UnitKind.ENTERPRISE.value, parent=None, city_code=city.code,
                credit_code=values["credit_code"])
    account = Account(unit=unit, phone=values["phone"], name=values["contact_name"], role=AccountRole.ADMIN)
    db.session.add_all([unit, account])
    _flush()
    audit.record("enterprise_registered", actor=account, object_ref=f"unit:{unit.id}",
                 detail={"name": unit.name, "credit_code": unit.credit_code, "city": city.name})
    return account


def create_system_admin(*, phone, name, admin_role=AdminRole.SYSTEM):
    """One of the three administrators of the system unit (系统管理员, 安全管理员, 审计管理员),
    made from the command line; the system unit, the root of the tree, with the first."""
    errors = {}
    name, mobile = _check_contact(errors, name, phone, name_field="name")
    if errors:
        raise ValidationFailed(errors)
    root = db.session.scalar(select(Unit).where(Unit.kind == UnitKind.SYSTEM))
    if root is None:
        root = Unit(name="系统管理", kind=UnitKind.SYSTEM.value)
        db.session.add(root)
    account = Account(unit=root, phone=mobile, name=name, role=AccountRole.ADMIN, admin_role=AdminRole(admin_role))
    db.session.add(account)
    _flush()
    audit.record("account_added", actor=None, object_ref=f"account:{account.id}",
                 detail={"unit": root.name, "phone": account.masked_phone, "role": account.role_label, "via": "cli"})
    return account
