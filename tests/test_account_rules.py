"""Who opens whom and who manages which accounts (DESIGN section 2), for every role of the tree."""
import pytest

from portal.accounts import rules, service
from portal.accounts.kinds import AccountRole, FinanceLevel, UnitKind as K
from portal.accounts.models import Account, Unit
from portal.extensions import db

#: role in tests/factories.build_tree() → the kinds its account may open, in form order
OPENS = {
    "system": [K.PROVINCE_OFFICE, K.FINANCE],
    # 三员分立: only the system administrator opens units
    "security_admin": [],
    "audit_admin": [],
    "province": [K.CITY_OFFICE, K.MARKET],
    "province_reviewer": [],
    "listed_market": [K.MERCHANT],
    "listed_merchant": [],
    "gz_office": [K.MARKET, K.SUPERMARKET, K.ECOMMERCE],
    "sz_office": [K.MARKET, K.SUPERMARKET, K.ECOMMERCE],
    "gz_reviewer": [],
    "sz_reviewer": [],
    "gz_market": [K.MERCHANT],
    "sz_market": [K.MERCHANT],
    "gz_merchant": [],
    "sz_merchant": [],
    "gz_supermarket": [K.STORE],
    "sz_supermarket": [K.STORE],
    "gz_store": [],
    "sz_store": [],
    "gz_ecommerce": [],
    "sz_ecommerce": [],
    "gz_enterprise": [],
    "sz_enterprise": [],
    "province_finance": [K.FINANCE, K.BUDGET_UNIT],
    "gz_finance": [K.FINANCE, K.BUDGET_UNIT],
    "county_finance": [K.BUDGET_UNIT],
    "superior_budget": [K.BUDGET_UNIT],
    "budget_unit": [K.BUDGET_UNIT],
    "gz_budget": [K.BUDGET_UNIT],
}


def load(tree, role):
    return db.session.get(Account, getattr(tree, role).id)


@pytest.fixture
def acct(ctx, tree):
    return lambda role: load(tree, role)


def test_table_covers_every_role_of_the_tree(ctx, tree):
    assert set(OPENS) == set(vars(tree))


@pytest.mark.parametrize("role, kinds", OPENS.items(), ids=list(OPENS))
def test_openable_kinds(acct, role, kinds):
    account = acct(role)
    assert rules.openable_kinds(account) == kinds
    for kind in K:
        assert rules.may_open(account, kind) == (kind in kinds), kind


@pytest.mark.parametrize("role, level", [
    ("system", FinanceLevel.PROVINCE),
    ("province_finance", FinanceLevel.CITY),
    ("gz_finance", FinanceLevel.COUNTY),
])
def test_finance_opens_the_level_below(acct, role, level):
    assert rules.finance_level_opened(acct(role)) == level


def test_staff_of_a_market_opens_nothing(acct):
    market = acct("gz_market")
    staff = service.add_account(market, market.unit, contact_name="经办人", phone="13600000001")
    assert staff.role == AccountRole.STAFF
    assert rules.openable_kinds(staff) == []
    assert not rules.may_open(staff, K.MERCHANT)


def test_disabled_admin_opens_nothing(acct):
    office = acct("gz_office")
    office.active = False
    assert rules.openable_kinds(office) == []
    assert not rules.may_manage_unit(office, acct("gz_market").unit)


def test_admin_of_a_disabled_unit_opens_nothing(acct):
    market = acct("gz_market")
    market.unit.active = False
    assert rules.openable_kinds(market) == []


# --- managing units -------------------------------------------------------------------------

MANAGES_UNIT = [
    # (actor, unit of this role's account, expected)
    ("gz_office", "gz_enterprise", True),
    ("gz_office", "sz_enterprise", False),
    ("sz_office", "sz_enterprise", True),
    ("sz_office", "gz_enterprise", False),
    ("gz_office", "gz_office", True),
    ("gz_office", "gz_market", True),
    ("gz_office", "gz_supermarket", True),
    ("gz_office", "gz_ecommerce", True),
    ("gz_office", "sz_market", False),
    ("gz_office", "sz_office", False),
    ("gz_office", "listed_market", False),
    ("gz_reviewer", "gz_enterprise", False),
    ("gz_reviewer", "gz_market", False),
    ("gz_reviewer", "gz_office", False),
    ("province", "gz_office", True),
    ("province", "listed_market", True),
    ("province", "gz_market", False),
    ("province", "gz_enterprise", False),
    ("province_reviewer", "gz_office", False),
    ("system", "province", True),
    ("system", "province_finance", True),
    ("system", "gz_office", False),
    ("listed_market", "listed_merchant", True),
    ("gz_market", "gz_merchant", True),
    ("gz_market", "sz_merchant", False),
    ("gz_market", "listed_merchant", False),
    ("gz_supermarket", "gz_store", True),
    ("gz_supermarket", "sz_store", False),
    ("gz_merchant", "gz_merchant", True),   # an admin manages its own unit (its staff)
    ("gz_merchant", "gz_market", False),    # never upwards
    ("gz_enterprise", "gz_enterprise", True),
    ("gz_enterprise", "sz_enterprise", False),
    ("province_finance", "gz_finance", True),
    ("province_finance", "superior_budget", True),
    ("province_finance", "county_finance", False),
    ("gz_finance", "county_finance", True),
    ("gz_finance", "gz_budget", True),
    ("gz_finance", "budget_unit", False),
    ("superior_budget", "budget_unit", True),
    ("budget_unit", "superior_budget", False),
]


@pytest.mark.parametrize("actor, target, expected", MANAGES_UNIT,
                         ids=[f"{a}-{t}" for a, t, _ in MANAGES_UNIT])
def test_may_manage_unit(acct, actor, target, expected):
    assert rules.may_manage_unit(acct(actor), acct(target).unit) is expected


def test_city_office_lists_enterprises_of_its_city_only(acct):
    office = acct("gz_office")
    units = db.session.scalars(rules.managed_units_query(office)).all()
    names = {u.name for u in units}
    assert "广州测试企业有限公司" in names
    assert "深圳测试企业有限公司" not in names
    assert {u.kind for u in units} == {K.MARKET, K.SUPERMARKET, K.ECOMMERCE, K.ENTERPRISE}


def test_visible_accounts_follow_the_same_rule(acct):
    office = acct("gz_office")
    phones = {a.phone for a in db.session.scalars(rules.visible_accounts_query(office))}
    assert acct("gz_enterprise").phone in phones
    assert acct("gz_reviewer").phone in phones
    assert acct("sz_enterprise").phone not in phones
    assert acct("sz_market").phone not in phones
    assert acct("province").phone not in phones


# --- managing accounts ----------------------------------------------------------------------

@pytest.mark.parametrize("role", list(OPENS))
def test_nobody_manages_their_own_account(acct, role):
    account = acct(role)
    assert rules.may_manage_account(account, account) is False


MANAGES_ACCOUNT = [
    ("gz_office", "gz_reviewer", True),       # own unit's staff
    ("gz_office", "sz_reviewer", False),
    ("gz_office", "gz_market", True),         # the admin of a unit below
    ("gz_office", "gz_enterprise", True),
    ("gz_office", "sz_enterprise", False),
    ("sz_office", "gz_enterprise", False),
    ("province", "province_reviewer", True),
    ("province", "gz_office", True),
    ("province", "gz_reviewer", True),
    ("province", "gz_market", False),
    ("province_reviewer", "province", False),  # staff manage nobody
    ("province_reviewer", "gz_office", False),
    ("gz_reviewer", "gz_office", False),
    ("gz_reviewer", "gz_enterprise", False),
    ("gz_market", "gz_office", False),
    ("gz_market", "gz_merchant", True),
    ("system", "province", True),
    ("system", "gz_office", False),
]


@pytest.mark.parametrize("actor, target, expected", MANAGES_ACCOUNT,
                         ids=[f"{a}-{t}" for a, t, _ in MANAGES_ACCOUNT])
def test_may_manage_account(acct, actor, target, expected):
    assert rules.may_manage_account(acct(actor), acct(target)) is expected


def test_admin_does_not_manage_another_admin_of_its_own_unit(acct):
    first = acct("system")
    second = service.create_system_admin(phone="13600000009", name="第二系统管理员")
    assert second.unit_id == first.unit_id and second.role == AccountRole.ADMIN
    assert rules.may_manage_account(first, second) is False
    assert rules.may_manage_account(second, first) is False
    # ...but it does manage the staff of that unit.
    staff = service.add_account(first, first.unit, contact_name="系统经办人", phone="13600000010")
    assert rules.may_manage_account(first, staff) is True
    assert rules.may_manage_account(second, staff) is True


def test_admin_manages_own_staff_but_not_a_second_admin_of_a_city_office(acct):
    office = acct("gz_office")
    other_admin = Account(unit=office.unit, phone="13600000011", name="另一管理员", role=AccountRole.ADMIN)
    db.session.add(other_admin)
    db.session.flush()
    assert rules.may_manage_account(office, other_admin) is False
    assert rules.may_manage_account(office, acct("gz_reviewer")) is True
    # The province, one level up, manages both.
    assert rules.may_manage_account(acct("province"), other_admin) is True


def test_staff_of_a_unit_manage_no_accounts(acct):
    market = acct("gz_market")
    staff = service.add_account(market, market.unit, contact_name="经办人", phone="13600000012")
    assert rules.may_manage_account(staff, acct("gz_merchant")) is False
    assert rules.may_manage_account(market, staff) is True
    assert rules.may_manage_account(acct("gz_office"), staff) is True


def test_units_of_the_tree_have_the_expected_kinds(acct):
    """Guard for the tables above: the factory roles are what their names say."""
    assert acct("listed_market").unit.kind == K.MARKET
    assert acct("listed_market").unit.city_code is None
    assert acct("county_finance").unit.finance_level == FinanceLevel.COUNTY
    assert acct("gz_reviewer").role == AccountRole.STAFF
    assert db.session.get(Unit, acct("gz_enterprise").unit_id).parent_id is None
