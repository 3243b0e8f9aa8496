"""Personal data shown only where needed: lists, pages and exports show other people's mobile
numbers masked (138****1012); a viewer who needs one to call the person presses 显示完整号码,
gets it from a scope-checked POST, and the audit trail records the look."""
import io
import re

import openpyxl
import pytest
from sqlalchemy import select

from portal.audit import AuditEvent
from portal.extensions import db
from tests.conftest import csrf_token
from tests.factories import make_reservation

PHONE = re.compile(r"1[3-9]\d{9}")
CONTACT, UNION_CONTACT = "13912345678", "13987654321"


@pytest.fixture
def form_tree(app, tree):
    """The tree and the school's submitted 2024 form (contacts 13912345678 and 13987654321)."""
    with app.app_context():
        tree.reservation_id = make_reservation(tree).id
        db.session.commit()
    return tree


def _full_numbers(text, viewer):
    return set(PHONE.findall(text)) - {viewer.phone}


def _as(app, login, account):
    client = app.test_client()
    login(client, account.phone)
    return client


def _viewed_rows(app):
    with app.app_context():
        return db.session.execute(select(AuditEvent.account_id, AuditEvent.object_ref, AuditEvent.detail)
                                  .where(AuditEvent.action == "personal_data_viewed")).all()


@pytest.mark.parametrize("role, paths", [
    ("system", ["/accounts/"]),
    ("province", ["/accounts/", "/"]),
    ("gz_office", ["/accounts/", "/accounts/units/{gz_market.unit_id}"]),
    ("gz_market", ["/accounts/", "/accounts/units/{gz_market.unit_id}"]),
    ("province_finance", ["/budget-units/", "/budget-units/{budget_unit.unit_id}", "/reservations/finance",
                          "/reservations/view/{reservation_id}"]),
    ("superior_budget", ["/reservations/confirmations", "/reservations/view/{reservation_id}", "/reservations/"]),
    ("budget_unit", ["/reservations/view/{reservation_id}"]),
])
def test_pages_show_no_full_number_of_anyone_else(app, form_tree, login, role, paths):
    viewer = getattr(form_tree, role)
    client = _as(app, login, viewer)
    for path in paths:
        url = path.format(**vars(form_tree))
        response = client.get(url)
        assert response.status_code == 200, url
        page = response.get_data(as_text=True)
        assert not _full_numbers(page, viewer), url


def test_the_detail_page_offers_the_full_contact_numbers_on_request(app, form_tree, login):
    page = _as(app, login, form_tree.superior_budget).get(
        f"/reservations/view/{form_tree.reservation_id}").get_data(as_text=True)
    assert "139****5678" in page and "139****4321" in page
    assert page.count("显示完整号码") == 2
    assert f"/reveal/reservation/{form_tree.reservation_id}/contact" in page


@pytest.mark.parametrize("role", ["province_finance", "superior_budget"])
def test_progress_export_masks_the_contact_numbers(app, form_tree, login, role):
    response = _as(app, login, getattr(form_tree, role)).get("/reservations/export?year=2024")
    assert response.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(response.data)).active
    cells = " ".join(str(cell) for row in sheet.iter_rows(values_only=True) for cell in row if cell is not None)
    assert "139****5678" in cells
    assert not PHONE.findall(cells)


def test_reveal_answers_the_contact_number_to_the_superior_and_audits_it(app, form_tree, login):
    client = _as(app, login, form_tree.superior_budget)
    token = csrf_token(client, "/")
    for which, number, field in (("contact", CONTACT, "contact_mobile"),
                                 ("union_contact", UNION_CONTACT, "union_contact_mobile")):
        response = client.post(f"/reveal/reservation/{form_tree.reservation_id}/{which}",
                               headers={"X-CSRFToken": token, "HX-Request": "true"})
        assert response.status_code == 200
        assert number in response.get_data(as_text=True)
    rows = _viewed_rows(app)
    assert len(rows) == 2
    assert {row.account_id for row in rows} == {form_tree.superior_budget.id}
    assert {row.object_ref for row in rows} == {f"reservation:{form_tree.reservation_id}"}
    assert '"field": "contact_mobile"' in rows[0].detail or '"field": "contact_mobile"' in rows[1].detail


@pytest.mark.parametrize("role", ["gz_budget", "gz_finance", "county_finance"])
def test_reveal_of_a_form_out_of_scope_is_a_404_and_not_audited_as_viewed(app, form_tree, login, role):
    client = _as(app, login, getattr(form_tree, role))
    response = client.post(f"/reveal/reservation/{form_tree.reservation_id}/contact",
                           headers={"X-CSRFToken": csrf_token(client, "/")})
    assert response.status_code == 404
    assert CONTACT not in response.get_data(as_text=True)
    assert _viewed_rows(app) == []


def test_reveal_of_an_unknown_field_is_a_404(app, form_tree, login):
    client = _as(app, login, form_tree.province_finance)
    response = client.post(f"/reveal/reservation/{form_tree.reservation_id}/contact_landline",
                           headers={"X-CSRFToken": csrf_token(client, "/")})
    assert response.status_code == 404


def test_reveal_refuses_get_and_a_post_without_its_csrf_token(app, form_tree, login):
    client = _as(app, login, form_tree.superior_budget)
    url = f"/reveal/reservation/{form_tree.reservation_id}/contact"
    assert client.get(url).status_code == 405
    response = client.post(url)
    assert response.status_code == 400
    assert CONTACT not in response.get_data(as_text=True)
    assert _viewed_rows(app) == []


def test_an_account_number_is_revealed_to_its_manager_and_its_owner_only(app, form_tree, login):
    merchant = form_tree.gz_merchant
    url = f"/reveal/account/{merchant.id}/phone"
    for role in ("gz_market", "gz_merchant"):
        client = _as(app, login, getattr(form_tree, role))
        response = client.post(url, headers={"X-CSRFToken": csrf_token(client, "/")})
        assert response.status_code == 200, role
        assert merchant.phone in response.get_data(as_text=True)
    for role in ("sz_market", "gz_office", "gz_reviewer", "security_admin"):
        client = _as(app, login, getattr(form_tree, role))
        response = client.post(url, headers={"X-CSRFToken": csrf_token(client, "/")})
        assert response.status_code == 404, role
    rows = _viewed_rows(app)
    assert sorted(row.account_id for row in rows) == sorted([form_tree.gz_market.id, merchant.id])
    assert {row.object_ref for row in rows} == {f"account:{merchant.id}"}


def test_the_accounts_list_offers_a_managed_accounts_number_on_request(app, form_tree, login):
    page = _as(app, login, form_tree.gz_market).get(
        f"/accounts/units/{form_tree.gz_merchant.unit_id}").get_data(as_text=True)
    assert f"/reveal/account/{form_tree.gz_merchant.id}/phone" in page
    assert form_tree.gz_merchant.phone not in page


def test_the_contact_edit_form_shows_the_full_number_and_the_trail_records_it(app, form_tree, login):
    office = _as(app, login, form_tree.gz_office)
    response = office.get(f"/accounts/{form_tree.gz_market.id}/edit", headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert f'value="{form_tree.gz_market.phone}"' in response.get_data(as_text=True)
    assert [(account_id, ref) for account_id, ref, _ in _viewed_rows(app)] == [
        (form_tree.gz_office.id, f"account:{form_tree.gz_market.id}")]
    # Someone who may not edit the account sees no number, and no view is recorded.
    stranger = _as(app, login, form_tree.sz_office)
    assert stranger.get(f"/accounts/{form_tree.gz_market.id}/edit", headers={"HX-Request": "true"}).status_code in (
        403, 404)
    assert len(_viewed_rows(app)) == 1
