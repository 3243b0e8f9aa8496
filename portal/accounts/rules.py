"""Who may open which units and manage which accounts: one rule per question.

Every list, page and action of account management asks these functions, so
that the table of DESIGN section 2 is written down once.
"""
from sqlalchemy import and_, or_, select

from portal.accounts.kinds import AccountRole, AdminRole, FinanceLevel, UnitKind
from portal.accounts.models import Account, Unit

#: which unit kinds an admin of each kind opens (finance levels are refined below)
OPENED_BY = {
    UnitKind.SYSTEM: (UnitKind.PROVINCE_OFFICE, UnitKind.FINANCE),
    UnitKind.PROVINCE_OFFICE: (UnitKind.CITY_OFFICE, UnitKind.MARKET),
    UnitKind.CITY_OFFICE: (UnitKind.MARKET, UnitKind.SUPERMARKET, UnitKind.ECOMMERCE),
    UnitKind.MARKET: (UnitKind.MERCHANT,),
    UnitKind.SUPERMARKET: (UnitKind.STORE,),
    UnitKind.FINANCE: (UnitKind.FINANCE, UnitKind.BUDGET_UNIT),
    UnitKind.BUDGET_UNIT: (UnitKind.BUDGET_UNIT,),
}

#: kinds of which a province has exactly one
SINGLETON_KINDS = (UnitKind.PROVINCE_OFFICE,)


def is_system_admin(account):
    """系统管理员: opens the province office and the province finance department."""
    return account.admin_role == AdminRole.SYSTEM


def is_security_admin(account):
    """安全管理员: security policy, lockouts, live sessions, second-factor resets."""
    return account.admin_role == AdminRole.SECURITY and account.is_active


def is_audit_admin(account):
    """审计管理员: reads the audit trail of everyone; changes nothing."""
    return account.admin_role == AdminRole.AUDIT and account.is_active


def does_business(account):
    """Whether the account files, reviews or reads business data: every account but the three
    administrators of the system unit (三员分立: none of them touches records or forms)."""
    return account.unit.kind != UnitKind.SYSTEM


def is_admin(account):
    """An account that manages (管理员), as opposed to a reviewer (审核员). Of the three
    administrators only the system administrator manages units and accounts in the tree."""
    if account.unit.kind == UnitKind.SYSTEM:
        return is_system_admin(account)
    return account.is_admin


def openable_kinds(account):
    """The unit kinds this account may open, in the order a form offers them."""
    if not is_admin(account) or not account.is_active:
        return []
    kinds = list(OPENED_BY.get(account.unit.kind, ()))
    if account.unit.kind == UnitKind.FINANCE and FinanceLevel(account.unit.finance_level).below is None:
        kinds.remove(UnitKind.FINANCE)
    return kinds


def may_open(account, kind):
    return kind in openable_kinds(account)


def finance_level_opened(account):
    """The level of a finance department this account would open."""
    if account.unit.kind == UnitKind.SYSTEM:
        return FinanceLevel.PROVINCE
    return FinanceLevel(account.unit.finance_level).below


def new_unit_needs_city(account, kind):
    """Whether the person opening a unit of this kind chooses its city."""
    if kind == UnitKind.CITY_OFFICE:
        return True
    return kind == UnitKind.FINANCE and finance_level_opened(account) == FinanceLevel.CITY


def managed_units_clause(account):
    """SQL condition for the units below this account whose accounts it manages."""
    unit = account.unit
    clause = Unit.parent_id == unit.id
    if unit.kind == UnitKind.CITY_OFFICE:
        # Enterprises register themselves; the office of their city looks after them.
        clause = or_(clause, and_(Unit.kind == UnitKind.ENTERPRISE, Unit.city_code == unit.city_code))
    return clause


def may_manage_unit(account, unit):
    """Whether this account may add accounts to, edit or disable accounts of the unit."""
    if not is_admin(account) or not account.is_active:
        return False
    if unit.id == account.unit_id:
        return True
    if unit.parent_id == account.unit_id:
        return True
    return (
        account.unit.kind == UnitKind.CITY_OFFICE
        and unit.kind == UnitKind.ENTERPRISE
        and unit.city_code == account.unit.city_code
    )


def may_manage_account(account, target):
    """Admins manage the accounts of the units below and the staff of their own unit."""
    if target.id == account.id or not may_manage_unit(account, target.unit):
        return False
    if target.unit_id == account.unit_id:
        return target.role == AccountRole.STAFF
    return True


def may_set_account_active(account, target):
    """Who disables and enables an account: whoever manages it, and the security administrator
    for every account but its own (a dormant account is re-enabled by either)."""
    if is_security_admin(account):
        return target.id != account.id
    return may_manage_account(account, target)


def managed_units_query(account):
    return select(Unit).where(managed_units_clause(account)).order_by(Unit.kind, Unit.id)


def visible_accounts_query(account):
    """Accounts listed on the account page: the own unit's and those of managed units."""
    return (
        select(Account)
        .join(Account.unit)
        .where(or_(Account.unit_id == account.unit_id, managed_units_clause(account)))
        .order_by(Account.unit_id, Account.id)
    )
