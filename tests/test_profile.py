"""个人中心 over HTTP: every business login's own page, linked from every page's header; a budget
unit changes its own current contacts there (hostile values answered with Chinese messages beside
the fields, 422, the form kept); the yearly form's step 2 starts from them; the superior and
finance see them, masked, on the form's page and the superior's confirmation list, and no other
unit reaches them."""
import json

import pytest
from sqlalchemy import func, select

from portal.audit import AuditEvent
from portal.extensions import db
from portal.reservations.models import UnitContacts
from tests.conftest import csrf_token
from tests.factories import make_reservation
from tests.test_reservation_web_forms import add_policy, by_id, dom, field_errors, hidden, post_step, text, typed

CONTACTS = {"contact_name": "李晓明", "contact_mobile": "13912345678", "contact_landline": "020-83133000",
            "union_contact_name": "王芳", "union_contact_mobile": "13987654321", "union_contact_landline": ""}
NEW_UNION = {"union_contact_name": "陈工会", "union_contact_mobile": "13800001234"}


def save_contacts(client, data, **headers):
    """Post the contacts as the page's form would, with its CSRF token."""
    page = client.get("/profile/contacts")
    assert page.status_code == 200, page.status_code
    return client.post("/profile/contacts", data={**data, "csrf_token": hidden(dom(page), "csrf_token")},
                       headers=headers)


def stored(app, unit_id):
    with app.app_context():
        row = db.session.scalar(select(UnitContacts).where(UnitContacts.unit_id == unit_id))
        return None if row is None else {field: getattr(row, field) for field in CONTACTS}


def changes(app, unit_id):
    with app.app_context():
        return db.session.scalars(select(AuditEvent).where(AuditEvent.action == "unit_contacts_changed",
                                                           AuditEvent.object_ref == f"unit:{unit_id}")
                                  .order_by(AuditEvent.id)).all()


@pytest.fixture
def school(app, tree, login):
    return login(app.test_client(), tree.budget_unit.phone)


@pytest.mark.parametrize("role", ["gz_merchant", "gz_office", "province_finance", "budget_unit"])
def test_every_business_login_has_its_page_linked_from_the_header(app, tree, login, role):
    account = getattr(tree, role)
    client = login(app.test_client(), account.phone)
    home = dom(client.get("/"))
    link = home.find(".//header//a[@href='/profile']")
    assert link is not None and text(link) == "个人中心"
    page = client.get("/profile")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    mine = text(by_id(dom(page), "my-account"))
    assert account.name in mine and f"{account.phone[:3]}****{account.phone[-4:]}" in mine
    assert account.phone not in body  # masked, with its 显示完整号码 button
    assert "/second-factor" in body and "本次登录" in mine
    # only a budget unit keeps contacts here
    assert ("本单位联系人" in body) == (role == "budget_unit")
    if role != "budget_unit":
        assert client.get("/profile/contacts").status_code == 403


def test_the_three_administrators_have_no_personal_page(app, tree, login):
    client = login(app.test_client(), tree.audit_admin.phone)
    assert dom(client.get("/")).find(".//header//a[@href='/profile']") is None
    assert client.get("/profile").status_code == 403


def test_a_budget_unit_changes_its_contacts(app, tree, school):
    unit_id = tree.budget_unit.unit_id
    assert "尚未填写本单位联系人" in school.get("/profile").get_data(as_text=True)
    # the form starts from the account's own name and mobile
    form = dom(school.get("/profile/contacts"))
    assert (typed(form, "contact_name"), typed(form, "contact_mobile")) == (tree.budget_unit.name, tree.budget_unit.phone)

    saved = save_contacts(school, CONTACTS)
    assert saved.status_code == 302 and saved.headers["Location"].endswith("/profile")
    page = school.get("/profile").get_data(as_text=True)
    assert "本单位联系人信息已更新" in page
    shown = text(by_id(dom(school.get("/profile")), "unit-contacts"))
    assert "李晓明" in shown and "139****5678" in shown and "139****4321" in shown and "020-83133000" in shown
    assert "13912345678" not in page and "13987654321" not in page
    assert stored(app, unit_id) == {**CONTACTS, "union_contact_landline": None}
    [change] = changes(app, unit_id)
    assert change.account_id == tree.budget_unit.id and change.detail_data["来源"] == "个人中心"

    # The edit form shows the unit's own full numbers to change them.
    form = dom(school.get("/profile/contacts"))
    assert typed(form, "union_contact_mobile") == "13987654321"

    # By HTMX the card alone comes back, with a toast.
    answer = save_contacts(school, {**CONTACTS, **NEW_UNION}, **{"HX-Request": "true"})
    assert answer.status_code == 200 and "<html" not in answer.get_data(as_text=True)
    assert json.loads(answer.headers["HX-Trigger"])["toast"]["message"] == "本单位联系人信息已更新"
    assert "138****1234" in text(by_id(dom(answer), "unit-contacts"))
    assert changes(app, unit_id)[-1].detail_data["工会联系人手机号码"] == ["139****4321", "138****1234"]


def test_a_unit_changes_only_its_own_contacts(app, tree, school, login):
    other = login(app.test_client(), tree.gz_budget.phone)
    save_contacts(other, {"contact_name": "赵局长", "contact_mobile": "13600002222"})
    # a unit named in the request changes nothing: the page always keeps the account's own unit
    assert save_contacts(school, {**CONTACTS, "unit_id": str(tree.gz_budget.unit_id)}).status_code == 302
    assert stored(app, tree.gz_budget.unit_id)["contact_name"] == "赵局长"
    assert stored(app, tree.budget_unit.unit_id)["contact_name"] == "李晓明"


HOSTILE = [
    ({"contact_mobile": "<script>alert(1)</script>"}, "contact_mobile", "手机号码格式不正确，请输入11位大陆手机号"),
    ({"contact_mobile": "9" * 10_000}, "contact_mobile", "手机号码格式不正确，请输入11位大陆手机号"),
    ({"contact_name": "名" * 5000}, "contact_name", "联系人姓名不能超过40个字"),
    ({"contact_name": "   "}, "contact_name", "请填写填报预留份额联系人"),
    ({"contact_landline": "1' OR '1'='1"}, "contact_landline", "固定电话请按“区号-号码”填写，如020-83133000"),
    ({"union_contact_mobile": "１３８"}, "union_contact_mobile", "手机号码格式不正确，请输入11位大陆手机号"),
    ({"union_contact_landline": "\r\nSet-Cookie: x=1"}, "union_contact_landline",
     "固定电话请按“区号-号码”填写，如020-83133000"),
]


@pytest.mark.parametrize("overrides, field, message", HOSTILE)
def test_hostile_values_get_a_chinese_message_beside_the_field_and_the_form_kept(app, tree, school, overrides, field,
                                                                                 message):
    save_contacts(school, CONTACTS)
    sent = {**CONTACTS, "contact_name": "张伟", **overrides}
    response = save_contacts(school, sent)
    assert response.status_code == 422
    root = dom(response)
    assert field_errors(root, field) == [message]
    for name, value in sent.items():  # what was typed is still there, the refused value included
        if len(value) < 1000:
            assert typed(root, name) == value.replace("\r\n", "\n"), name  # as HTML reads an attribute
    assert stored(app, tree.budget_unit.unit_id)["contact_name"] == "李晓明"
    assert len(changes(app, tree.budget_unit.unit_id)) == 1


def test_a_post_without_its_token_is_refused(app, tree, school):
    response = school.post("/profile/contacts", data=CONTACTS)
    assert response.status_code == 400 and "页面已过期" in response.get_data(as_text=True)
    assert stored(app, tree.budget_unit.unit_id) is None


def test_step_2_of_the_yearly_form_starts_from_the_contacts_and_saving_it_updates_them(app, tree, school):
    year = add_policy(app, 2098)
    save_contacts(school, CONTACTS)
    figures = {"canteen_type": "own", "remark": "", "canteen_total": "1000000", "ratio": "30", "union_need": "1",
               "union_total": "200000", "union_ratio": "20", "union_remark": ""}
    assert post_step(school, year, 1, figures).status_code == 302
    step2 = dom(school.get(f"/reservations/{year}/step/2"))
    for name, value in CONTACTS.items():
        assert typed(step2, name) == value, name
    assert post_step(school, year, 2, {**CONTACTS, **NEW_UNION}).status_code == 302
    assert stored(app, tree.budget_unit.unit_id)["union_contact_name"] == "陈工会"
    assert changes(app, tree.budget_unit.unit_id)[-1].detail_data["来源"] == f"{year}年度预留份额填报"
    assert "138****1234" in text(by_id(dom(school.get("/profile")), "unit-contacts"))


@pytest.fixture
def filed(app, tree, school):
    """The school's submitted 2024 form; then the school changes its union contact on 个人中心."""
    with app.app_context():
        reservation_id = make_reservation(tree).id
        db.session.commit()
    save_contacts(school, {**CONTACTS, **NEW_UNION})
    return reservation_id


def test_the_superior_and_finance_see_the_current_contacts_masked(app, tree, login, filed):
    clients = {role: login(app.test_client(), getattr(tree, role).phone) for role in ("superior_budget",
                                                                                      "province_finance")}
    for role, client in clients.items():
        page = client.get(f"/reservations/view/{filed}")
        assert page.status_code == 200
        card = text(by_id(dom(page), "unit-current-contacts"))
        assert "陈工会" in card and "138****1234" in card and "13800001234" not in page.get_data(as_text=True)
        # the full number on request, with its row in the trail
        revealed = client.post(f"/reveal/unit/{tree.budget_unit.unit_id}/contacts/union_contact",
                               headers={"X-CSRFToken": csrf_token(client, "/")})
        assert revealed.status_code == 200 and "13800001234" in revealed.get_data(as_text=True)
        with app.app_context():
            assert db.session.scalar(select(func.count(AuditEvent.id)).where(
                AuditEvent.action == "personal_data_viewed", AuditEvent.account_id == getattr(tree, role).id,
                AuditEvent.object_ref == f"unit:{tree.budget_unit.unit_id}")) == 1

    # The superior's confirmation list shows them beside the form waiting for it.
    listing = clients["superior_budget"].get("/reservations/confirmations").get_data(as_text=True)
    assert "陈工会" in listing and "138****1234" in listing and "13800001234" not in listing


def test_other_units_do_not_reach_them(app, tree, login, school, filed):
    for role in ("gz_budget", "gz_finance", "county_finance"):
        client = login(app.test_client(), getattr(tree, role).phone)
        token = csrf_token(client, "/")
        assert client.get(f"/reservations/view/{filed}").status_code == 404
        for which in ("contact", "union_contact"):
            assert client.post(f"/reveal/unit/{tree.budget_unit.unit_id}/contacts/{which}",
                               headers={"X-CSRFToken": token}).status_code == 404
    # nor does the school reach its head's, which the head sees
    head = login(app.test_client(), tree.superior_budget.phone)
    save_contacts(head, {"contact_name": "许文博", "contact_mobile": "13912340011"})
    token = csrf_token(school, "/")
    assert school.post(f"/reveal/unit/{tree.superior_budget.unit_id}/contacts/contact",
                       headers={"X-CSRFToken": token}).status_code == 404
    assert school.post(f"/reveal/unit/{tree.budget_unit.unit_id}/contacts/contact",
                       headers={"X-CSRFToken": token}).status_code == 200
    assert head.post(f"/reveal/unit/{tree.superior_budget.unit_id}/contacts/contact",
                     headers={"X-CSRFToken": csrf_token(head, "/")}).status_code == 200
