"""The authorization matrix: every route of app.url_map against every role.

Each route names the object it is tried on and, per role, what the role gets:
OK (the page or the action, including a 422 for the empty form), LOGIN (sent to
the login page), FORBIDDEN (403: the page exists, not for this role), or HIDDEN
(404: another unit's object, as if it did not exist). A route that is missing
here fails `test_every_route_is_in_the_matrix`.
"""
import re

import pytest

from tests.conftest import csrf_token

OK, LOGIN, FORBIDDEN, HIDDEN = "ok", "login", "forbidden", "hidden"

ROLES = [
    "anonymous", "system", "province", "province_reviewer", "listed_market", "listed_merchant",
    "gz_office", "gz_reviewer", "gz_market", "gz_merchant", "gz_supermarket", "gz_store",
    "gz_ecommerce", "gz_enterprise", "sz_office", "sz_market", "province_finance", "gz_finance",
    "county_finance", "superior_budget", "budget_unit",
]
STAFF = {"province_reviewer", "gz_reviewer"}
#: roles whose unit may open some kind of unit below it
OPENERS = {"system", "province", "listed_market", "gz_office", "gz_market", "gz_supermarket", "sz_office",
           "sz_market", "province_finance", "gz_finance", "county_finance", "superior_budget", "budget_unit"}


def public(role):
    return OK


def logged_in(role):
    return LOGIN if role == "anonymous" else OK


def admins(role):
    if role == "anonymous":
        return LOGIN
    return FORBIDDEN if role in STAFF else OK


def openers(role):
    if role == "anonymous":
        return LOGIN
    return OK if role in OPENERS else FORBIDDEN


def managers_of(*allowed):
    """Admins of the listed roles act; staff are refused; other admins do not see the object."""

    def rule(role):
        if role == "anonymous":
            return LOGIN
        if role in STAFF:
            return FORBIDDEN
        return OK if role in allowed else HIDDEN

    return rule


def merchant_account_rule(role):
    # The market manages its merchant's account; the merchant sees its own row but
    # may not edit or disable itself.
    return managers_of("gz_market")(role)


def own_row_rule(role):
    return OK if role == "gz_merchant" else merchant_account_rule(role)


def self_edit_forbidden(role):
    return FORBIDDEN if role == "gz_merchant" else merchant_account_rule(role)


def audit_readers(role):
    if role == "anonymous":
        return LOGIN
    return OK if role in ("system", "province", "province_reviewer") else FORBIDDEN


FILERS = {"listed_market", "listed_merchant", "gz_market", "gz_merchant", "gz_supermarket", "gz_store",
          "gz_ecommerce", "gz_enterprise", "sz_market"}
REVIEWERS = {"province", "province_reviewer", "listed_market", "gz_office", "gz_reviewer", "gz_market",
             "gz_supermarket", "sz_office", "sz_market"}


def filers(role):
    if role == "anonymous":
        return LOGIN
    return OK if role in FILERS else FORBIDDEN


def reviewers(role):
    if role == "anonymous":
        return LOGIN
    return OK if role in REVIEWERS else FORBIDDEN


def record_viewers(role):
    """The filed record of the Guangzhou merchant: its filer and its market see it; the city not yet."""
    if role == "anonymous":
        return LOGIN
    return OK if role in ("gz_merchant", "gz_market") else HIDDEN


def record_editors(role):
    # A filed record is no longer editable: its filer and market are sent to the detail page.
    if role == "anonymous":
        return LOGIN
    if role not in FILERS:
        return FORBIDDEN
    return OK if role in ("gz_merchant", "gz_market") else HIDDEN


def voucher_changers(role):
    # Vouchers change only while the record is editable: refused even to the filer now.
    if role == "anonymous":
        return LOGIN
    if role not in FILERS or role in ("gz_merchant", "gz_market"):
        return FORBIDDEN
    return HIDDEN


def record_reviewers(role):
    if role == "anonymous":
        return LOGIN
    if role not in REVIEWERS:
        return FORBIDDEN
    return OK if role == "gz_market" else HIDDEN


def totals_readers(role):
    if role == "anonymous":
        return LOGIN
    return OK if role in ("province", "province_reviewer", "gz_office", "gz_reviewer", "sz_office") else FORBIDDEN


BUDGET_UNITS = {"superior_budget", "budget_unit", "gz_budget"}
FINANCE = {"province_finance", "gz_finance", "county_finance"}


def budget_units(role):
    if role == "anonymous":
        return LOGIN
    return OK if role in BUDGET_UNITS else FORBIDDEN


def budget_or_finance(role):
    if role == "anonymous":
        return LOGIN
    return OK if role in BUDGET_UNITS | FINANCE else FORBIDDEN


def finance_only(role):
    if role == "anonymous":
        return LOGIN
    return OK if role in FINANCE else FORBIDDEN


def superiors(role):
    if role == "anonymous":
        return LOGIN
    return OK if role == "superior_budget" else FORBIDDEN


def form_viewers(role):
    """The school's form: the school, its superior 教育厅 and the province finance see it."""
    if role == "anonymous":
        return LOGIN
    if role not in BUDGET_UNITS | FINANCE:
        return FORBIDDEN
    return OK if role in ("budget_unit", "superior_budget", "province_finance") else HIDDEN


def sheet_viewers(role):
    if role == "anonymous":
        return LOGIN
    return OK if role in ("budget_unit", "superior_budget", "province_finance") else HIDDEN


def policy_setters(role):
    if role == "anonymous":
        return LOGIN
    return OK if role == "province_finance" else FORBIDDEN


def finance_without_a_failed_file(role):
    """The annotated file of a failed import: finance admins get a 404 while they have none."""
    if role == "anonymous":
        return LOGIN
    return HIDDEN if role in FINANCE else FORBIDDEN


def reference_editors(role):
    if role == "anonymous":
        return LOGIN
    return OK if role == "province" else FORBIDDEN


def after_login_redirect(role):
    return OK  # the login page itself, or a redirect home once logged in


#: endpoint -> (method, url builder over the tree, rule)
MATRIX = {
    "auth.login": ("GET", lambda t: "/login", after_login_redirect),
    "auth.send_login_code": ("POST", lambda t: "/login/code", public),
    "auth.login_submit": ("POST", lambda t: "/login", public),
    "auth.register": ("GET", lambda t: "/register", public),
    "auth.send_register_code": ("POST", lambda t: "/register/code", public),
    "auth.register_submit": ("POST", lambda t: "/register", public),
    "health.healthz": ("GET", lambda t: "/healthz", public),
    "home.index": ("GET", lambda t: "/", logged_in),
    "accounts.index": ("GET", lambda t: "/accounts/", admins),
    "accounts.new_unit": ("GET", lambda t: "/accounts/units/new", openers),
    "accounts.open_unit": ("POST", lambda t: "/accounts/units", openers),
    "accounts.unit": ("GET", lambda t: f"/accounts/units/{t.gz_market.unit_id}", managers_of("gz_office", "gz_market")),
    "accounts.add_account": ("POST", lambda t: f"/accounts/units/{t.gz_market.unit_id}/accounts",
                             managers_of("gz_office", "gz_market")),
    "accounts.account_row": ("GET", lambda t: f"/accounts/{t.gz_merchant.id}/row", own_row_rule),
    "accounts.edit_account": ("GET", lambda t: f"/accounts/{t.gz_merchant.id}/edit", self_edit_forbidden),
    "accounts.update_account": ("POST", lambda t: f"/accounts/{t.gz_merchant.id}/edit", self_edit_forbidden),
    "accounts.disable_account": ("POST", lambda t: f"/accounts/{t.gz_merchant.id}/disable", self_edit_forbidden),
    "accounts.enable_account": ("POST", lambda t: f"/accounts/{t.gz_merchant.id}/enable", self_edit_forbidden),
    "records.index": ("GET", lambda t: "/records/", filers),
    "records.new": ("GET", lambda t: "/records/new", filers),
    "records.edit": ("GET", lambda t: f"/records/{t.record_id}/edit", record_editors),
    "records.detail": ("GET", lambda t: f"/records/{t.record_id}", record_viewers),
    "records.region_options": ("GET", lambda t: "/records/regions?level=city&origin_province_code=450000", logged_in),
    "records.upload_voucher": ("POST", lambda t: f"/records/{t.record_id}/vouchers", voucher_changers),
    "records.delete_voucher": ("POST", lambda t: f"/records/{t.record_id}/vouchers/{t.voucher_id}/delete",
                               voucher_changers),
    "records.voucher_file": ("GET", lambda t: f"/records/{t.record_id}/vouchers/{t.voucher_id}", record_viewers),
    "reviews.queue": ("GET", lambda t: "/reviews/", reviewers),
    "reviews.panel": ("GET", lambda t: f"/reviews/{t.record_id}/panel", record_reviewers),
    "reviews.act": ("POST", lambda t: f"/reviews/{t.record_id}/act", record_reviewers),
    "reviews.batch_approve": ("POST", lambda t: "/reviews/batch-approve", reviewers),
    "reviews.export": ("GET", lambda t: "/reviews/export", reviewers),
    "reports.index": ("GET", lambda t: "/reports/", totals_readers),
    "reports.export": ("GET", lambda t: "/reports/export", totals_readers),
    "reservations.index": ("GET", lambda t: "/reservations/", budget_or_finance),
    "reservations.step_figures": ("GET", lambda t: "/reservations/2024/step/1", budget_units),
    "reservations.step_contacts": ("GET", lambda t: "/reservations/2024/step/2", budget_units),
    "reservations.step_confirm": ("GET", lambda t: "/reservations/2024/step/3", budget_units),
    "reservations.compute": ("POST", lambda t: "/reservations/2024/compute", budget_units),
    "reservations.detail": ("GET", lambda t: f"/reservations/view/{t.reservation_id}", form_viewers),
    "reservations.decide": ("POST", lambda t: f"/reservations/view/{t.reservation_id}/decide", form_viewers),
    "reservations.confirmations": ("GET", lambda t: "/reservations/confirmations", superiors),
    "reservations.remind": ("POST", lambda t: "/reservations/remind", superiors),
    "reservations.batch": ("POST", lambda t: "/reservations/batch", superiors),
    "reservations.finance": ("GET", lambda t: "/reservations/finance", finance_only),
    "reservations.export": ("GET", lambda t: "/reservations/export", budget_or_finance),
    "reservations.policy": ("GET", lambda t: "/reservations/policy", policy_setters),
    "sheets.download": ("GET", lambda t: f"/reservations/sheets/{t.sheet_id}", sheet_viewers),
    "sheets.verify": ("GET", lambda t: f"/verify/{t.sheet_code}", public),
    "audit_log.index": ("GET", lambda t: "/audit/", audit_readers),
    "budget_units.index": ("GET", lambda t: "/budget-units/", finance_only),
    "budget_units.template": ("GET", lambda t: "/budget-units/template", finance_only),
    "budget_units.import_units": ("POST", lambda t: "/budget-units/import", finance_only),
    "budget_units.error_file": ("GET", lambda t: "/budget-units/import/errors", finance_without_a_failed_file),
    "budget_units.unit": ("GET", lambda t: f"/budget-units/{t.budget_unit.unit_id}",
                          managers_of("province_finance", "superior_budget")),
    "budget_units.rename": ("POST", lambda t: f"/budget-units/{t.budget_unit.unit_id}/rename",
                            managers_of("province_finance", "superior_budget")),
    "budget_units.close": ("POST", lambda t: f"/budget-units/{t.budget_unit.unit_id}/close",
                           managers_of("province_finance", "superior_budget")),
    "budget_units.merge": ("POST", lambda t: f"/budget-units/{t.budget_unit.unit_id}/merge",
                           managers_of("province_finance", "superior_budget")),
    "reference_data.index": ("GET", lambda t: "/reference-data/", reference_editors),
    "reference_data.periods": ("GET", lambda t: "/reference-data/periods", reference_editors),
    "reference_data.add_period": ("POST", lambda t: "/reference-data/periods", reference_editors),
    "reference_data.set_period_open": ("POST", lambda t: f"/reference-data/periods/{t.period_id}/open",
                                       reference_editors),
    "reference_data.lists": ("GET", lambda t: "/reference-data/lists", reference_editors),
    "reference_data.add_entry": ("POST", lambda t: "/reference-data/lists/category", reference_editors),
    "reference_data.set_entry_active": ("POST", lambda t: f"/reference-data/lists/entries/{t.entry_id}/active",
                                        reference_editors),
    "reference_data.counties": ("GET", lambda t: "/reference-data/counties", reference_editors),
    "reference_data.set_key_county": ("POST", lambda t: "/reference-data/counties/451225/key", reference_editors),
    # Last: it ends the session the rows above use, and sends everyone to the login page.
    "auth.logout": ("POST", lambda t: "/logout", lambda role: LOGIN),
}

NOT_ROUTES = {"static"}


def test_every_route_is_in_the_matrix(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()} - NOT_ROUTES
    assert endpoints - set(MATRIX) == set(), "routes missing from the authorization matrix"
    assert set(MATRIX) - endpoints == set(), "matrix rows for routes that no longer exist"


def _classify(response):
    if response.status_code == 302 and "/login" in response.headers.get("Location", ""):
        return LOGIN
    return {403: FORBIDDEN, 404: HIDDEN}.get(response.status_code, OK)


@pytest.fixture
def matrix_tree(app, tree):
    """The tree plus one record the Guangzhou merchant filed, waiting for its market."""
    from portal.accounts.models import Account
    from portal.extensions import db
    from portal.reservations import sheets
    from tests.factories import file_record, make_reservation

    with app.app_context():
        record = file_record(db.session.get(Account, tree.gz_merchant.id), app.instance_path)
        reservation = make_reservation(tree)
        sheet = sheets.make_sheet(reservation, "submitted", db.session.get(Account, tree.budget_unit.id),
                                  instance_path=app.instance_path, base_url="http://portal.test")
        db.session.commit()
        tree.record_id, tree.voucher_id = record.id, record.vouchers[0].id
        tree.reservation_id, tree.sheet_id, tree.sheet_code = reservation.id, sheet.id, sheet.verification_code
        tree.period_id, tree.entry_id = record.period_id, record.category_id
    return tree


@pytest.mark.parametrize("role", ROLES)
def test_role_against_every_route(role, app, client, matrix_tree, login):
    tree = matrix_tree
    if role != "anonymous":
        login(client, getattr(tree, role).phone)
    token = csrf_token(client, "/" if role != "anonymous" else "/login")
    mismatches = []
    for endpoint, (method, url_for_tree, rule) in MATRIX.items():
        url = url_for_tree(tree)
        if method == "GET":
            response = client.get(url)
        else:
            response = client.post(url, data={}, headers={"X-CSRFToken": token})
        got, expected = _classify(response), rule(role)
        if got != expected:
            mismatches.append(f"{method} {url} ({endpoint}): expected {expected}, got {got} "
                              f"[{response.status_code}]")
        if endpoint == "accounts.disable_account" and got == OK:
            assert re.search("已停用", response.get_data(as_text=True)) or response.status_code == 302
    assert mismatches == []
