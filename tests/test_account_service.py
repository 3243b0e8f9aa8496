"""Opening units, adding, editing and disabling accounts, registering enterprises: each refusal
with its message on the right field, and every change in the audit trail."""
import json
from datetime import datetime, timedelta

import pytest
from flask import current_app
from sqlalchemy import func, select

from portal.accounts import service
from portal.accounts.codes import CodePolicy, issue_code
from portal.accounts.kinds import AccountRole, FinanceLevel, UnitKind as K
from portal.accounts.models import Account, LoginSession, Unit
from portal.accounts.sessions import resolve_session, start_session
from portal.audit import AuditEvent
from portal.errors import PermissionDenied, ValidationFailed
from portal.extensions import db
from tests.factories import credit_code

BAD_PHONE = "手机号码格式不正确，请输入11位大陆手机号"
PHONE_TAKEN = "该手机号已开通账号（一个手机号只能对应一个单位账号）"
BAD_CREDIT = "统一社会信用代码不正确（应为18位，且校验位正确）"
VALID_CREDIT = "91110000600037341L"
NEW_PHONE = "13600000001"


@pytest.fixture
def acct(ctx, tree):
    return lambda role: db.session.get(Account, getattr(tree, role).id)


def audit_rows(action=None):
    query = select(AuditEvent).order_by(AuditEvent.id)
    if action:
        query = query.where(AuditEvent.action == action)
    return db.session.scalars(query).all()


def refused(call, *args, **kwargs):
    with pytest.raises(ValidationFailed) as info:
        call(*args, **kwargs)
    return info.value.errors


def open_market(actor, **overrides):
    values = dict(kind=K.MARKET, name="新批发市场", contact_name="张三", phone=NEW_PHONE)
    values.update(overrides)
    return service.open_unit(actor, **values)


def register(**overrides):
    values = dict(name="新企业有限公司", credit_code=VALID_CREDIT, contact_name="李四", phone=NEW_PHONE,
                  city_code="440100")
    values.update(overrides)
    return service.register_enterprise(**values)


# --- open_unit: input checks ----------------------------------------------------------------

@pytest.mark.parametrize("overrides, field, message", [
    ({"name": ""}, "name", "请填写单位名称"),
    ({"name": "   "}, "name", "请填写单位名称"),
    ({"name": "市" * 101}, "name", "单位名称不能超过100个字"),
    ({"contact_name": ""}, "contact_name", "请填写联系人姓名"),
    ({"contact_name": "名" * 41}, "contact_name", "联系人姓名不能超过40个字"),
    ({"phone": ""}, "phone", "请填写手机号码"),
    ({"phone": "1380013800"}, "phone", BAD_PHONE),
    ({"phone": "020-83133000"}, "phone", BAD_PHONE),
    ({"phone": "13700001001"}, "phone", PHONE_TAKEN),       # the city office admin's number
    ({"phone": "137 0000 1001"}, "phone", PHONE_TAKEN),     # the same number typed with spaces
    ({"credit_code": "91110000600037341M"}, "credit_code", BAD_CREDIT),
    ({"kind": "casino"}, "kind", "请选择单位类型"),
])
def test_open_unit_refusals(acct, overrides, field, message):
    errors = refused(open_market, acct("gz_office"), **overrides)
    assert errors[field] == message
    assert db.session.scalar(select(Unit).where(Unit.name == overrides.get("name", "新批发市场"))) is None


def test_open_unit_reports_every_bad_field_at_once(acct):
    errors = refused(open_market, acct("gz_office"), name="", contact_name="", phone="123")
    assert errors == {"name": "请填写单位名称", "contact_name": "请填写联系人姓名", "phone": BAD_PHONE}


def test_open_unit_duplicate_credit_code(acct):
    taken = acct("gz_enterprise").unit.credit_code
    errors = refused(open_market, acct("gz_office"), credit_code=taken)
    assert errors == {"credit_code": "该统一社会信用代码已登记"}


def test_open_unit_with_credit_code_stores_it(acct):
    unit = open_market(acct("gz_office"), credit_code=VALID_CREDIT.lower())
    assert unit.credit_code == VALID_CREDIT


def test_second_city_office_for_the_same_city_refused(acct):
    errors = refused(service.open_unit, acct("province"), kind=K.CITY_OFFICE, name="又一个广州协作办",
                     contact_name="王五", phone=NEW_PHONE, city_code="440100")
    assert errors == {"city_code": "广州市已开通地级市帮扶部门"}


def test_city_office_needs_a_known_city(acct):
    for city in (None, "", "999999"):
        errors = refused(service.open_unit, acct("province"), kind=K.CITY_OFFICE, name="某市协作办",
                         contact_name="王五", phone=NEW_PHONE, city_code=city)
        assert errors == {"city_code": "请选择所在地级市"}


def test_city_office_for_another_city_opened(acct):
    unit = service.open_unit(acct("province"), kind=K.CITY_OFFICE, name="韶关协作办", contact_name="王五",
                             phone=NEW_PHONE, city_code="440200")
    assert unit.city_code == "440200"
    assert unit.city_label == "韶关市"


def test_second_province_office_refused(acct):
    errors = refused(service.open_unit, acct("system"), kind=K.PROVINCE_OFFICE, name="第二协作办",
                     contact_name="王五", phone=NEW_PHONE)
    assert errors == {"kind": "已开通省级帮扶部门，不能重复开通"}


def test_second_province_finance_refused(acct):
    errors = refused(service.open_unit, acct("system"), kind=K.FINANCE, name="第二财政厅",
                     contact_name="王五", phone=NEW_PHONE)
    assert errors == {"kind": "已开通财政部门，不能重复开通"}


def test_second_city_finance_for_the_same_city_refused(acct):
    errors = refused(service.open_unit, acct("province_finance"), kind=K.FINANCE, name="广州另一财政局",
                     contact_name="王五", phone=NEW_PHONE, city_code="440100")
    assert errors == {"city_code": "广州市已开通财政部门"}


def test_several_county_finances_per_city_allowed(acct):
    unit = service.open_unit(acct("gz_finance"), kind=K.FINANCE, name="越秀区财政局", contact_name="王五",
                             phone=NEW_PHONE)
    assert unit.finance_level == FinanceLevel.COUNTY
    assert unit.city_code == "440100"


def test_several_province_listed_markets_allowed(acct):
    unit = open_market(acct("province"), name="另一省级市场")
    assert unit.city_code is None


# --- open_unit: permission ------------------------------------------------------------------

@pytest.mark.parametrize("actor, kind", [
    ("gz_market", K.STORE),
    ("gz_office", K.CITY_OFFICE),
    ("gz_office", K.MERCHANT),
    ("gz_reviewer", K.MARKET),
    ("province", K.SUPERMARKET),
    ("gz_enterprise", K.MERCHANT),
    ("county_finance", K.FINANCE),
    ("system", K.CITY_OFFICE),
    ("budget_unit", K.FINANCE),
])
def test_opening_a_kind_not_allowed_is_denied_and_audited(acct, actor, kind):
    account = acct(actor)
    units_before = db.session.scalar(select(func.count(Unit.id)))
    with pytest.raises(PermissionDenied) as info:
        service.open_unit(account, kind=kind, name="越权单位", contact_name="王五", phone=NEW_PHONE,
                          city_code="440100")
    assert info.value.message == f"您的单位不能开通“{kind.label}”"
    denied = audit_rows("unit_opened")[-1]
    assert denied.result == "denied"
    assert denied.account_id == account.id
    assert denied.unit_id == account.unit_id
    assert denied.detail_data == {"kind": kind.value}
    db.session.commit()
    assert db.session.scalar(select(func.count(Unit.id))) == units_before
    assert db.session.scalar(select(Account.id).where(Account.with_phone(NEW_PHONE))) is None


def test_permission_checked_before_input(acct):
    """A refused kind says so even when the form is also badly filled."""
    with pytest.raises(PermissionDenied):
        service.open_unit(acct("gz_market"), kind=K.STORE, name="", contact_name="", phone="x")


# --- open_unit: the new unit's place in the tree ---------------------------------------------

def test_city_office_market_gets_the_office_city(acct):
    unit = open_market(acct("gz_office"), city_code="440300")  # a city typed in is ignored
    assert unit.city_code == "440100"
    assert unit.parent_id == acct("gz_office").unit_id


def test_province_listed_market_has_no_city(acct):
    unit = open_market(acct("province"), city_code="440100")
    assert unit.city_code is None
    assert unit.city_label == "省级"


def test_tree_cities(acct):
    assert acct("gz_market").unit.city_code == "440100"
    assert acct("gz_merchant").unit.city_code == "440100"
    assert acct("gz_store").unit.city_code == "440100"
    assert acct("sz_ecommerce").unit.city_code == "440300"
    assert acct("listed_market").unit.city_code is None
    assert acct("listed_merchant").unit.city_code is None
    assert acct("province_finance").unit.city_code is None
    assert acct("superior_budget").unit.city_code is None


def test_finance_levels_and_cities(acct):
    province_finance = acct("province_finance").unit
    assert (province_finance.finance_level, province_finance.city_code) == ("province", None)
    assert province_finance.kind_label == "省级财政部门"
    city_finance = acct("gz_finance").unit
    assert (city_finance.finance_level, city_finance.city_code) == ("city", "440100")
    county = acct("county_finance").unit
    assert (county.finance_level, county.city_code) == ("county", "440100")
    assert county.kind_label == "县级财政部门"
    assert acct("gz_budget").unit.city_code == "440100"
    assert acct("gz_budget").unit.finance_level is None


def test_city_finance_needs_a_city(acct):
    errors = refused(service.open_unit, acct("province_finance"), kind=K.FINANCE, name="深圳市财政局",
                     contact_name="王五", phone=NEW_PHONE)
    assert errors == {"city_code": "请选择所在地级市"}
    unit = service.open_unit(acct("province_finance"), kind=K.FINANCE, name="深圳市财政局",
                             contact_name="王五", phone=NEW_PHONE, city_code="440300")
    assert (unit.finance_level, unit.city_code) == ("city", "440300")


def test_open_unit_creates_its_admin_and_audits(acct):
    office = acct("gz_office")
    unit = open_market(office, name="  江南果菜批发市场 ", contact_name=" 张三 ", phone="136 0000 0001")
    db.session.commit()
    account = db.session.scalar(select(Account).where(Account.with_phone(NEW_PHONE)))
    assert account.unit_id == unit.id
    assert account.role == AccountRole.ADMIN
    assert account.name == "张三"
    assert account.created_by_id == office.id
    assert unit.name == "江南果菜批发市场"
    assert unit.created_by_id == office.id
    event = audit_rows("unit_opened")[-1]
    assert event.result == "ok"
    assert event.account_id == office.id
    assert event.object_ref == f"unit:{unit.id}"
    assert event.detail_data == {"kind": "market", "name": "江南果菜批发市场", "city": "440100",
                                 "first_account": "136****0001"}
    assert NEW_PHONE not in event.detail


# --- add_account ----------------------------------------------------------------------------

def test_office_adds_a_reviewer_to_its_own_unit(acct):
    office = acct("gz_office")
    reviewer = service.add_account(office, office.unit, contact_name="审核员乙", phone=NEW_PHONE)
    assert reviewer.role == AccountRole.STAFF
    assert reviewer.role_label == "审核员"
    event = audit_rows("account_added")[-1]
    assert (event.account_id, event.object_ref, event.result) == (office.id, f"account:{reviewer.id}", "ok")
    assert event.detail_data == {"unit": "广州协作办", "phone": "136****0001", "role": "staff"}


def test_office_adds_staff_to_a_market_below(acct):
    market = acct("gz_market").unit
    staff = service.add_account(acct("gz_office"), market, contact_name="经办人", phone=NEW_PHONE)
    assert staff.role == AccountRole.STAFF
    assert staff.role_label == "经办人"
    assert staff.unit_id == market.id


@pytest.mark.parametrize("phone, message", [("", "请填写手机号码"), ("12345", BAD_PHONE),
                                            ("13700003011", PHONE_TAKEN)])
def test_add_account_phone_refusals(acct, phone, message):
    office = acct("gz_office")
    assert refused(service.add_account, office, office.unit, contact_name="某人", phone=phone) == {
        "phone": message}


def test_one_account_per_mobile_across_units(acct):
    """A number already used anywhere in the portal cannot open a second account."""
    taken = acct("county_finance").phone
    errors = refused(service.add_account, acct("gz_office"), acct("gz_market").unit,
                     contact_name="某人", phone=taken)
    assert errors == {"phone": PHONE_TAKEN}
    assert db.session.scalar(select(func.count(Account.id)).where(Account.with_phone(taken))) == 1


@pytest.mark.parametrize("actor, unit_of", [
    ("gz_office", "sz_market"),
    ("gz_office", "sz_office"),
    ("gz_office", "sz_enterprise"),
    ("gz_reviewer", "gz_office"),
    ("gz_market", "sz_merchant"),
    ("province", "gz_market"),
])
def test_add_account_to_a_unit_not_managed_is_denied(acct, actor, unit_of):
    account, unit = acct(actor), acct(unit_of).unit
    with pytest.raises(PermissionDenied):
        service.add_account(account, unit, contact_name="某人", phone=NEW_PHONE)
    event = audit_rows("account_added")[-1]
    assert (event.result, event.account_id, event.object_ref) == ("denied", account.id, f"unit:{unit.id}")
    assert db.session.scalar(select(Account.id).where(Account.with_phone(NEW_PHONE))) is None


# --- edit_contact ---------------------------------------------------------------------------

def test_edit_contact_changes_name_and_phone_and_audits(acct):
    office, market = acct("gz_office"), acct("gz_market")
    old_phone = market.phone
    token = start_session(market)
    db.session.commit()
    service.edit_contact(office, market, contact_name="新联系人", phone=NEW_PHONE)
    db.session.commit()
    market = db.session.get(Account, market.id)
    assert (market.name, market.phone) == ("新联系人", NEW_PHONE)
    event = audit_rows("account_edited")[-1]
    assert (event.account_id, event.object_ref, event.result) == (office.id, f"account:{market.id}", "ok")
    # the trail cannot be edited and outlives the account: names in it are masked too
    assert event.detail_data == {"name": ["联*人", "新联**"], "phone": ["137****1011", "136****0001"]}
    assert old_phone not in event.detail and NEW_PHONE not in event.detail
    # The sessions opened with the old number are over.
    assert resolve_session(token, idle=timedelta(minutes=30), absolute=timedelta(hours=12)) is None


def test_edit_contact_keeping_the_phone_is_allowed(acct):
    office, market = acct("gz_office"), acct("gz_market")
    token = start_session(market)
    db.session.commit()
    service.edit_contact(office, market, contact_name="改名", phone=market.phone)
    db.session.commit()
    assert audit_rows("account_edited")[-1].detail_data == {"name": ["联*人", "改*"]}
    assert resolve_session(token, idle=timedelta(minutes=30), absolute=timedelta(hours=12)) is not None


def test_edit_contact_without_change_writes_no_audit(acct):
    market = acct("gz_market")
    service.edit_contact(acct("gz_office"), market, contact_name=market.name, phone=market.phone)
    assert audit_rows("account_edited") == []


def test_edit_contact_to_a_taken_phone_refused(acct):
    market = acct("gz_market")
    errors = refused(service.edit_contact, acct("gz_office"), market, contact_name="某人",
                     phone=acct("sz_market").phone)
    assert errors == {"phone": PHONE_TAKEN}
    db.session.rollback()
    assert db.session.get(Account, market.id).phone == "13700001011"


def test_edit_contact_of_another_city_denied(acct):
    target = acct("sz_enterprise")
    with pytest.raises(PermissionDenied):
        service.edit_contact(acct("gz_office"), target, contact_name="某人", phone=NEW_PHONE)
    event = audit_rows("account_edited")[-1]
    assert (event.result, event.object_ref) == ("denied", f"account:{target.id}")
    assert db.session.get(Account, target.id).phone == "13700003041"


def test_editing_own_account_denied(acct):
    office = acct("gz_office")
    with pytest.raises(PermissionDenied):
        service.edit_contact(office, office, contact_name="我自己", phone=NEW_PHONE)


# --- set_account_active ---------------------------------------------------------------------

def test_disabling_ends_sessions_and_keeps_the_account(acct):
    office, market = acct("gz_office"), acct("gz_market")
    tokens = [start_session(market), start_session(market)]
    other = start_session(acct("gz_merchant"))
    db.session.commit()
    accounts_before = db.session.scalar(select(func.count(Account.id)))

    service.set_account_active(office, market, False)
    db.session.commit()

    assert db.session.scalar(select(func.count(Account.id))) == accounts_before  # never deleted
    market = db.session.get(Account, market.id)
    assert market.active is False and market.is_active is False
    sessions = db.session.scalars(select(LoginSession).where(LoginSession.account_id == market.id)).all()
    assert len(sessions) == 2 and all(s.end_reason == "disabled" for s in sessions)
    for token in tokens:
        assert resolve_session(token, idle=timedelta(minutes=30), absolute=timedelta(hours=12)) is None
    assert resolve_session(other, idle=timedelta(minutes=30), absolute=timedelta(hours=12)) is not None
    event = audit_rows("account_disabled")[-1]
    assert (event.account_id, event.object_ref, event.result) == (office.id, f"account:{market.id}", "ok")
    assert event.detail_data == {"phone": "137****1011", "unit": "广州批发市场"}


def test_enabling_again_audits_and_restores_login(acct):
    office, market = acct("gz_office"), acct("gz_market")
    service.set_account_active(office, market, False)
    service.set_account_active(office, market, True)
    db.session.commit()
    assert db.session.get(Account, market.id).is_active is True
    assert [e.action for e in audit_rows()][-2:] == ["account_disabled", "account_enabled"]


def test_disabling_twice_writes_one_audit_row(acct):
    office, market = acct("gz_office"), acct("gz_market")
    service.set_account_active(office, market, False)
    service.set_account_active(office, market, False)
    assert len(audit_rows("account_disabled")) == 1


@pytest.mark.parametrize("actor, target", [
    ("gz_office", "sz_market"),
    ("gz_office", "sz_enterprise"),
    ("gz_office", "gz_office"),
    ("gz_reviewer", "gz_market"),
    ("gz_market", "gz_office"),
])
def test_disabling_an_account_not_managed_is_denied(acct, actor, target):
    account, victim = acct(actor), acct(target)
    with pytest.raises(PermissionDenied):
        service.set_account_active(account, victim, False)
    event = audit_rows("account_disabled")[-1]
    assert (event.result, event.account_id, event.object_ref) == ("denied", account.id, f"account:{victim.id}")
    db.session.commit()
    assert db.session.get(Account, victim.id).active is True


def test_city_office_disables_an_enterprise_of_its_city(acct):
    enterprise = acct("gz_enterprise")
    service.set_account_active(acct("gz_office"), enterprise, False)
    db.session.commit()
    assert db.session.get(Account, enterprise.id).active is False


# --- register_enterprise --------------------------------------------------------------------

def test_register_enterprise(ctx, tree):
    account = register(credit_code=" 91110000600037341l ", name=" 新企业有限公司 ")
    db.session.commit()
    unit = account.unit
    assert (unit.kind, unit.name, unit.credit_code, unit.city_code, unit.parent_id) == (
        "enterprise", "新企业有限公司", VALID_CREDIT, "440100", None)
    assert account.role == AccountRole.ADMIN
    event = audit_rows("enterprise_registered")[-1]
    assert (event.account_id, event.unit_id, event.object_ref) == (account.id, unit.id, f"unit:{unit.id}")
    assert event.detail_data == {"name": "新企业有限公司", "credit_code": VALID_CREDIT, "city": "广州市"}


@pytest.mark.parametrize("overrides, field, message", [
    ({"name": ""}, "name", "请填写单位名称"),
    ({"credit_code": ""}, "credit_code", "请填写统一社会信用代码"),
    ({"credit_code": "91110000600037341M"}, "credit_code", BAD_CREDIT),
    ({"credit_code": "9111000060003734"}, "credit_code", BAD_CREDIT),
    ({"contact_name": " "}, "contact_name", "请填写联系人姓名"),
    ({"phone": "1234567890"}, "phone", BAD_PHONE),
    ({"phone": "13700001001"}, "phone", PHONE_TAKEN),
    ({"city_code": ""}, "city_code", "请选择所在地级市"),
    ({"city_code": "110100"}, "city_code", "请选择所在地级市"),   # Beijing: not a Guangdong city
])
def test_register_enterprise_refusals(ctx, tree, overrides, field, message):
    errors = refused(register, **overrides)
    assert errors == {field: message}
    # The checks made before the SMS code is: all but "this number has an account", which would
    # tell anyone which numbers are registered.
    before_code = {} if message == PHONE_TAKEN else {field: message}
    assert service.check_registration(**{**dict(name="新企业有限公司", credit_code=VALID_CREDIT,
                                                 contact_name="李四", phone=NEW_PHONE, city_code="440100"),
                                          **overrides}) == before_code
    assert len(audit_rows("enterprise_registered")) == 2  # the tree's two, none for the refusal


def test_register_enterprise_duplicate_credit_code(acct):
    taken = acct("sz_enterprise").unit.credit_code
    assert refused(register, credit_code=taken) == {"credit_code": "该统一社会信用代码已登记"}


def test_register_enterprise_refused_leaves_nothing_behind(ctx, tree):
    units_before = db.session.scalar(select(func.count(Unit.id)))
    refused(register, credit_code="91110000600037341M")
    db.session.commit()
    assert db.session.scalar(select(func.count(Unit.id))) == units_before
    assert db.session.scalar(select(Account.id).where(Account.with_phone(NEW_PHONE))) is None


def test_registered_enterprise_is_managed_by_its_city_office(acct):
    from portal.accounts import rules

    account = register(city_code="440300", credit_code=credit_code("91440300MA5FTK1D9"))
    assert rules.may_manage_account(acct("sz_office"), account)
    assert not rules.may_manage_account(acct("gz_office"), account)


# --- create_system_admin --------------------------------------------------------------------

def test_create_system_admin_makes_the_root_once(ctx):
    first = service.create_system_admin(phone="13600000101", name=" 管理员甲 ")
    second = service.create_system_admin(phone="13600000102", name="管理员乙")
    db.session.commit()
    assert first.name == "管理员甲"
    assert first.unit_id == second.unit_id
    assert first.unit.kind == K.SYSTEM and first.unit.parent_id is None
    assert first.role_label == "系统管理员"
    assert db.session.scalar(select(func.count(Unit.id)).where(Unit.kind == K.SYSTEM)) == 1
    events = audit_rows("account_added")
    assert [e.object_ref for e in events] == [f"account:{first.id}", f"account:{second.id}"]
    assert events[0].account_id is None
    assert events[0].detail_data == {"unit": "系统管理", "phone": "136****0101", "role": "系统管理员", "via": "cli"}


@pytest.mark.parametrize("phone, name, errors", [
    ("12345", "某人", {"phone": BAD_PHONE}),
    ("", "某人", {"phone": "请填写手机号码"}),
    ("13700000000", "某人", {"phone": "该手机号已开通账号（一个手机号只能对应一个单位账号）"}),
    ("13600000101", "  ", {"name": "请填写联系人姓名"}),
])
def test_create_system_admin_refusals(ctx, tree, phone, name, errors):
    """The command-line administrator is checked like every other account."""
    assert refused(service.create_system_admin, phone=phone, name=name) == errors


# --- the audit trail ------------------------------------------------------------------------

def test_every_change_is_audited_and_no_code_appears(acct):
    """A realistic morning: codes are sent, then units and accounts change; the trail names each
    change and never holds a code (nor a full mobile number in what accounts did)."""
    policy = CodePolicy.from_config(current_app.config)
    now = datetime(2024, 3, 4, 9, 0)
    codes = []
    for i, phone in enumerate(["13700001001", NEW_PHONE, "13600000002", "13600000003"]):
        codes.append(issue_code(policy, phone, "login", deliver=True, now=now + timedelta(minutes=i))[1])

    before = len(audit_rows())
    office = acct("gz_office")
    unit = open_market(office)
    staff = service.add_account(office, unit, contact_name="经办人", phone="13600000002")
    service.edit_contact(office, staff, contact_name="经办人乙", phone="13600000003")
    service.set_account_active(office, staff, False)
    service.set_account_active(office, staff, True)
    register(credit_code=credit_code("91440100MA5FTK1D7"), phone="13600000004")
    db.session.commit()

    events = audit_rows()[before:]
    assert [e.action for e in events] == ["unit_opened", "account_added", "account_edited",
                                          "account_disabled", "account_enabled", "enterprise_registered"]
    assert all(e.result == "ok" for e in events)
    for event in audit_rows():
        text = json.dumps([event.action, event.object_ref, event.detail], ensure_ascii=False)
        for code in codes:
            assert code not in text, (event.action, event.detail)
        for phone in (NEW_PHONE, "13600000002", "13600000003"):
            assert phone not in text
