"""Who files, who reviews, who sees which purchase records: one rule per question.

The Python predicates decide for one record; `visible_clause` says the same in
SQL for lists, exports and totals. tests/test_record_rules.py keeps them in step.
"""
from sqlalchemy import and_, false, or_

from portal.accounts.kinds import UnitKind
from portal.records.models import PurchaseRecord
from portal.records.states import APPROVED, DRAFT, EDITABLE, FILED, PROVINCE_SCOPE, SUBMITTED

FILER_KINDS = (UnitKind.MERCHANT, UnitKind.STORE, UnitKind.MARKET, UnitKind.SUPERMARKET,
               UnitKind.ECOMMERCE, UnitKind.ENTERPRISE)
FIRST_REVIEWER_KINDS = (UnitKind.MARKET, UnitKind.SUPERMARKET)

CHANNEL_OF_KIND = {
    UnitKind.MERCHANT: "market", UnitKind.MARKET: "market",
    UnitKind.STORE: "supermarket", UnitKind.SUPERMARKET: "supermarket",
    UnitKind.ECOMMERCE: "ecommerce", UnitKind.ENTERPRISE: "enterprise",
}


def may_file(account):
    return account.is_active and account.unit.kind in FILER_KINDS


def channel_of(unit):
    return CHANNEL_OF_KIND[UnitKind(unit.kind)]


def first_reviewer_of(unit):
    """A merchant's market, a store's supermarket; other filers have no first level."""
    return unit.parent_id if unit.kind in (UnitKind.MERCHANT, UnitKind.STORE) else None


def city_scope_of(unit):
    return unit.city_code or PROVINCE_SCOPE


def office_scope(account):
    """The scope whose submitted records this account reviews (city office, or province office
    for the separately listed market); None for every other account."""
    if account.unit.kind == UnitKind.CITY_OFFICE:
        return account.unit.city_code
    if account.unit.kind == UnitKind.PROVINCE_OFFICE:
        return PROVINCE_SCOPE
    return None


def is_reviewer(account):
    return account.unit.kind in FIRST_REVIEWER_KINDS or office_scope(account) is not None


def may_view(account, record):
    unit = account.unit
    if record.unit_id == unit.id:
        return True
    if record.first_reviewer_id == unit.id and record.status != DRAFT:
        return True
    if record.reached_city_at is not None and office_scope(account) == record.city_scope:
        return True
    return unit.kind == UnitKind.PROVINCE_OFFICE and record.status == APPROVED


def visible_clause(account):
    unit = account.unit
    clauses = [PurchaseRecord.unit_id == unit.id]
    if unit.kind in FIRST_REVIEWER_KINDS:
        clauses.append(and_(PurchaseRecord.first_reviewer_id == unit.id, PurchaseRecord.status != DRAFT))
    scope = office_scope(account)
    if scope is not None:
        clauses.append(and_(PurchaseRecord.city_scope == scope, PurchaseRecord.reached_city_at.is_not(None)))
    if unit.kind == UnitKind.PROVINCE_OFFICE:
        clauses.append(PurchaseRecord.status == APPROVED)
    return or_(*clauses) if clauses else false()


def may_edit(account, record):
    return account.is_active and record.unit_id == account.unit_id and record.status in EDITABLE


def review_level(account, record):
    """'first' or 'city' when this account may approve or return the record now, else None."""
    if not account.is_active:
        return None
    if record.status == FILED and record.first_reviewer_id == account.unit_id:
        return "first"
    if record.status == SUBMITTED and office_scope(account) == record.city_scope:
        return "city"
    return None


def pending_clause(account):
    """Records waiting for this account's unit to act (the 待审核 tab)."""
    unit = account.unit
    if unit.kind in FIRST_REVIEWER_KINDS:
        return and_(PurchaseRecord.first_reviewer_id == unit.id, PurchaseRecord.status == FILED)
    scope = office_scope(account)
    if scope is not None:
        return and_(PurchaseRecord.city_scope == scope, PurchaseRecord.status == SUBMITTED)
    return false()


def pending_counter_key(account):
    unit = account.unit
    if unit.kind in FIRST_REVIEWER_KINDS:
        return f"first:{unit.id}"
    scope = office_scope(account)
    return f"city:{scope}" if scope else None


def unit_status_key(unit_id, status):
    """The counter of a filing unit's records in one status, behind its home page."""
    return f"unit:{unit_id}:{status}"
