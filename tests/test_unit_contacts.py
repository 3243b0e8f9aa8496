"""A budget unit's current contacts (portal/reservations/contacts.py), without HTTP: the rules of
step 2, the audit row of each change, who sees them, and how the yearly form's step 2 starts
from them and brings them up to date."""
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select, text

from portal.accounts.models import Unit
from portal.audit import ACTION_LABELS, AuditEvent
from portal.clock import to_china, utcnow
from portal.errors import PermissionDenied, ValidationFailed
from portal.extensions import db
from portal.reservations import contacts, workflow
from portal.reservations.models import UnitContacts, YearPolicy
from tests.factories import build_tree

GOOD = {"contact_name": "李晓明", "contact_mobile": "13912345678", "contact_landline": "020-83133000",
        "union_contact_name": "王芳", "union_contact_mobile": "13987654321", "union_contact_landline": ""}
FIGURES = {"canteen_type": "own", "remark": "", "canteen_total": "1000000", "ratio": "30", "union_need": "1",
           "union_total": "200000", "union_ratio": "20", "union_remark": ""}


@pytest.fixture
def t(app, ctx):
    made = build_tree()
    db.session.commit()
    return made


def trail(unit_id):
    return db.session.scalars(select(AuditEvent).where(AuditEvent.action == "unit_contacts_changed",
                                                       AuditEvent.object_ref == f"unit:{unit_id}")
                              .order_by(AuditEvent.id)).all()


def open_policy(year):
    policy = YearPolicy(year=year, min_ratio=Decimal("30"), encouraged_ratio=Decimal("15"),
                        national_floor=Decimal("10"), filing_deadline=to_china(utcnow()).date() + timedelta(days=30),
                        flag_below_last_year=True)
    db.session.add(policy)
    db.session.commit()
    return policy


def test_a_unit_changes_its_contacts_and_the_trail_keeps_old_and_new_masked(t):
    school = t.budget_unit
    first = contacts.change(school, GOOD)
    db.session.commit()
    assert first.unit_id == school.unit_id and first.updated_by_id == school.id
    assert (first.contact_name, first.contact_mobile, first.union_contact_mobile) == ("李晓明", "13912345678",
                                                                                       "13987654321")
    assert first.union_contact_landline is None  # an empty optional field is stored as nothing

    contacts.change(school, {**GOOD, "union_contact_name": "陈工会", "union_contact_mobile": "13800001234",
                             "union_contact_landline": "0755-83133000"})
    db.session.commit()
    rows = trail(school.unit_id)
    assert [row.account_id for row in rows] == [school.id, school.id]
    assert ACTION_LABELS["unit_contacts_changed"] == "修改单位联系人"
    assert rows[0].detail_data["填报联系人手机号码"] == ["（空）", "139****5678"]
    assert rows[1].detail_data == {"来源": "个人中心", "工会采购预留份额联系人": ["王*", "陈*会"],
                                   "工会联系人手机号码": ["139****4321", "138****1234"],
                                   "工会联系人固定电话": ["（空）", "0755-****3000"]}
    # No number or name in clear anywhere in the trail.
    assert not any(secret in row.detail for row in rows
                   for secret in ("13912345678", "13987654321", "13800001234", "王芳", "陈工会", "83133000"))

    # The same values again change nothing and write nothing.
    contacts.change(school, {**GOOD, "union_contact_name": "陈工会", "union_contact_mobile": "138 0000 1234",
                             "union_contact_landline": "0755-83133000"})
    db.session.commit()
    assert len(trail(school.unit_id)) == 2
    assert db.session.scalar(select(UnitContacts).where(UnitContacts.unit_id == school.unit_id)).id == first.id


def test_names_and_mobiles_are_encrypted_at_rest(t):
    contacts.change(t.budget_unit, GOOD)
    db.session.commit()
    [row] = db.session.execute(text("SELECT contact_name, contact_mobile, union_contact_name, union_contact_mobile, "
                                    "contact_landline FROM unit_contacts")).all()
    assert all(value.startswith("sm4gcm.") for value in row[:4])
    assert row[4] == "020-83133000"


@pytest.mark.parametrize("data, field, message", [
    ({"contact_name": ""}, "contact_name", "请填写填报预留份额联系人"),
    ({"contact_name": "名" * 41}, "contact_name", "联系人姓名不能超过40个字"),
    ({"contact_mobile": ""}, "contact_mobile", "请填写联系人手机号码"),
    ({"contact_mobile": "1391234567"}, "contact_mobile", "手机号码格式不正确，请输入11位大陆手机号"),
    ({"contact_landline": "83133000"}, "contact_landline", "固定电话请按“区号-号码”填写，如020-83133000"),
    ({"union_contact_name": "名" * 41}, "union_contact_name", "联系人姓名不能超过40个字"),
    ({"union_contact_mobile": "<script>"}, "union_contact_mobile", "手机号码格式不正确，请输入11位大陆手机号"),
    ({"union_contact_landline": "400-8208820"}, "union_contact_landline", "固定电话请按“区号-号码”填写，如020-83133000"),
])
def test_the_rules_of_step_2_refuse_and_nothing_is_kept(t, data, field, message):
    contacts.change(t.budget_unit, GOOD)
    db.session.commit()
    with pytest.raises(ValidationFailed) as refused:
        contacts.change(t.budget_unit, {**GOOD, "contact_name": "张伟", **data})
    assert refused.value.errors[field] == message
    db.session.rollback()
    assert contacts.current(t.budget_unit.unit_id).contact_name == "李晓明"
    assert len(trail(t.budget_unit.unit_id)) == 1


def test_only_a_budget_unit_keeps_contacts(t):
    for role in ("gz_market", "province_finance", "gz_office", "system"):
        with pytest.raises(PermissionDenied):
            contacts.change(getattr(t, role), GOOD)
    disabled = t.gz_budget
    disabled.active = False
    with pytest.raises(PermissionDenied):
        contacts.change(disabled, GOOD)
    db.session.rollback()
    assert db.session.scalar(select(UnitContacts)) is None


def test_who_sees_a_units_contacts(t):
    school, head = t.budget_unit.unit, t.superior_budget.unit
    seeing = {role for role in ("budget_unit", "superior_budget", "gz_budget", "province_finance", "gz_finance",
                                "county_finance", "gz_office", "gz_market", "system")
              if contacts.may_see(getattr(t, role), school)}
    assert seeing == {"budget_unit", "superior_budget", "province_finance"}
    # the school below 省教育厅 does not see its head's contacts
    assert {role for role in ("budget_unit", "superior_budget", "province_finance")
            if contacts.may_see(getattr(t, role), head)} == {"superior_budget", "province_finance"}
    # a unit that is no budget unit has none to see
    assert not contacts.may_see(t.gz_market, t.gz_market.unit)
    assert not contacts.may_see(t.gz_finance, t.gz_finance.unit)
    # the department head follows a unit two levels below it
    grandchild = Unit(name="省实验中学分校", kind="budget_unit", parent=school)
    db.session.add(grandchild)
    db.session.flush()
    assert contacts.may_see(t.superior_budget, grandchild) and contacts.may_see(t.budget_unit, grandchild)
    assert contacts.may_see(t.province_finance, grandchild) and not contacts.may_see(t.gz_finance, grandchild)
    db.session.rollback()


def test_by_unit(t):
    contacts.change(t.budget_unit, GOOD)
    assert contacts.by_unit([]) == {}
    found = contacts.by_unit(iter([t.budget_unit.unit_id, t.gz_budget.unit_id]))
    assert list(found) == [t.budget_unit.unit_id] and found[t.budget_unit.unit_id].contact_name == "李晓明"
    db.session.rollback()


def test_step_2_starts_from_the_current_contacts_and_saving_it_updates_them(t):
    policy = open_policy(2450)
    school = t.budget_unit
    # No current contacts yet: the account's own name and mobile, as before.
    form = workflow.form_for(school, policy)
    assert form.contact_name is None and form.contact_mobile is None  # a new form has none of its own
    assert contacts.values_for_form(school, form) == {"contact_name": school.name, "contact_mobile": school.phone}
    db.session.rollback()

    contacts.change(school, GOOD)
    form = workflow.form_for(school, policy)
    assert contacts.values_for_form(school, form) == {**GOOD, "union_contact_landline": None}
    workflow.save_figures(school, form, FIGURES, policy, expected_version=form.version)
    db.session.commit()

    # Step 2 saved: the form's contacts become the unit's current contacts, with who and whence.
    workflow.save_contacts(school, form, {**GOOD, "contact_name": "张伟", "contact_mobile": "13600001111"},
                           expected_version=form.version)
    db.session.commit()
    current = contacts.current(school.unit_id)
    assert (current.contact_name, current.contact_mobile, current.updated_by_id) == ("张伟", "13600001111", school.id)
    last = trail(school.unit_id)[-1]
    assert last.detail_data["来源"] == "2450年度预留份额填报"
    assert last.detail_data["填报预留份额联系人"] == ["李*明", "张*"]

    # From now on step 2 shows the form's own contacts, whatever the unit changes later.
    contacts.change(school, GOOD)
    db.session.commit()
    assert contacts.values_for_form(school, form)["contact_name"] == "张伟"
    assert form.contact_name == "张伟"

    # Saving step 2 with the current contacts unchanged writes no audit row.
    before = len(trail(school.unit_id))
    workflow.save_contacts(school, form, GOOD, expected_version=form.version)
    db.session.commit()
    assert len(trail(school.unit_id)) == before


def test_a_refused_step_2_leaves_the_current_contacts(t):
    policy = open_policy(2451)
    school = t.budget_unit
    contacts.change(school, GOOD)
    form = workflow.form_for(school, policy)
    workflow.save_figures(school, form, FIGURES, policy, expected_version=form.version)
    db.session.commit()
    with pytest.raises(ValidationFailed):
        workflow.save_contacts(school, form, {**GOOD, "contact_mobile": "12345"}, expected_version=form.version)
    db.session.rollback()
    assert contacts.current(school.unit_id).contact_mobile == "13912345678"


def test_the_masks():
    assert contacts.masked("contact_landline", "020-83133000-123") == "020-****3000"
    assert contacts.masked("union_contact_landline", None) == "（空）"
    assert contacts.masked("contact_name", "欧阳晓明") == "欧阳**"
    assert contacts.masked("contact_mobile", "13912345678") == "139****5678"
