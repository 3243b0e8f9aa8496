"""The authorization matrix: every route of app.url_map against every role of the test tree.

Each route names the object it is tried on and, per role, what the role gets:
OK (the page or the action, including a 422 for the empty form), LOGIN (sent to
the login page), FORBIDDEN (403: the page exists, not for this role), HIDDEN
(404: another unit's object, as if it did not exist), BAD_REQUEST (400: the role
got past every check and the empty request was refused as malformed), or a
redirect classified by where it goes: REDIRECT_SAME (within the route's own
area, e.g. a filed record's edit page sending to its detail page) or
REDIRECT_ELSEWHERE. Nothing else counts as allowed.

MATRIX has one row per endpoint (tests/test_fuzz_routes.py reads it); MORE_ROWS
tries the second method of GET+POST routes and the record routes on a record in
each state where who may see or change it differs. A route missing from MATRIX
fails `test_every_route_is_in_the_matrix`.
"""
from urllib.parse import urlsplit

import pytest

from tests import authz_areas
from tests.authz_rules import *  # noqa: F401,F403 (the outcomes and rules the rows name)
from tests.authz_rules import BAD_REQUEST, FORBIDDEN, HIDDEN, LOGIN, OK, OPEN_YEAR, REDIRECT_SAME, ROLES, SEES_RECORD
from tests.conftest import csrf_token

#: endpoint -> (method, url builder over the tree, rule)
MATRIX = {
    "auth.login": ("GET", lambda t: "/login", after_login_redirect),
    "auth.send_login_code": ("POST", lambda t: "/login/code", public),
    "auth.login_submit": ("POST", lambda t: "/login", public),
    "auth.register": ("GET", lambda t: "/register", public),
    "auth.send_register_code": ("POST", lambda t: "/register/code", public),
    "auth.register_submit": ("POST", lambda t: "/register", public),
    "auth.captcha": ("GET", lambda t: "/captcha", public),
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
    "accounts.disable_account": ("POST", lambda t: f"/accounts/{t.gz_merchant.id}/disable",
                                answered(REDIRECT_SAME, self_edit_forbidden)),
    "accounts.enable_account": ("POST", lambda t: f"/accounts/{t.gz_merchant.id}/enable",
                               answered(REDIRECT_SAME, self_edit_forbidden)),
    "reveal.account_phone": ("POST", lambda t: f"/reveal/account/{t.gz_merchant.id}/phone", number_revealers),
    "reveal.reservation_mobile": ("POST", lambda t: f"/reveal/reservation/{t.reservation_id}/contact", form_viewers),
    "records.index": ("GET", lambda t: "/records/", filers),
    "records.new": ("GET", lambda t: "/records/new", filers),
    "records.edit": ("GET", lambda t: f"/records/{t.record_id}/edit", record_editors()),
    "records.detail": ("GET", lambda t: f"/records/{t.record_id}", record_viewers()),
    "records.region_options": ("GET", lambda t: "/records/regions?level=city&origin_province_code=450000",
                               business_logins),
    "records.upload_voucher": ("POST", lambda t: f"/records/{t.record_id}/vouchers", voucher_changers()),
    "records.delete_voucher": ("POST", lambda t: f"/records/{t.record_id}/vouchers/{t.voucher_id}/delete",
                               voucher_changers()),
    "records.voucher_file": ("GET", lambda t: f"/records/{t.record_id}/vouchers/{t.voucher_id}",
                             record_viewers()),
    "reviews.queue": ("GET", lambda t: "/reviews/", reviewers),
    "reviews.panel": ("GET", lambda t: f"/reviews/{t.record_id}/panel", record_reviewers()),
    "reviews.act": ("POST", lambda t: f"/reviews/{t.record_id}/act", record_reviewers(method="POST")),
    "reviews.batch_approve": ("POST", lambda t: "/reviews/batch-approve", answered(REDIRECT_SAME, reviewers)),
    "reviews.export": ("GET", lambda t: "/reviews/export", reviewers),
    "reviews.approve_all": ("POST", lambda t: "/reviews/approve-all", answered(BAD_REQUEST, reviewers)),
    "reviews.batch_status": ("GET", lambda t: f"/reviews/batches/{t.batch_job_id}", own_batch),
    "reports.index": ("GET", lambda t: "/reports/", totals_readers),
    "reports.export": ("GET", lambda t: "/reports/export", totals_readers),
    "reservations.index": ("GET", lambda t: "/reservations/", finance_sent_on),
    # 2024 is closed for filing (and the school's form submitted): every step sends to the list.
    "reservations.step_figures": ("GET", lambda t: "/reservations/2024/step/1", answered(REDIRECT_SAME, budget_units)),
    "reservations.step_contacts": ("GET", lambda t: "/reservations/2024/step/2",
                                   answered(REDIRECT_SAME, budget_units)),
    "reservations.step_confirm": ("GET", lambda t: "/reservations/2024/step/3", answered(REDIRECT_SAME, budget_units)),
    "reservations.compute": ("POST", lambda t: "/reservations/2024/compute", budget_units),
    "reservations.detail": ("GET", lambda t: f"/reservations/view/{t.reservation_id}", form_viewers),
    "reservations.sheet_list": ("GET", lambda t: f"/reservations/view/{t.reservation_id}/sheets", form_viewers),
    "reservations.decide": ("POST", lambda t: f"/reservations/view/{t.reservation_id}/decide",
                             answered(BAD_REQUEST, form_viewers)),
    "reservations.confirmations": ("GET", lambda t: "/reservations/confirmations", superiors),
    "reservations.remind": ("POST", lambda t: "/reservations/remind", answered(REDIRECT_SAME, superiors)),
    "reservations.batch": ("POST", lambda t: "/reservations/batch", answered(REDIRECT_SAME, superiors)),
    "reservations.finance": ("GET", lambda t: "/reservations/finance", finance_only),
    "reservations.export": ("GET", lambda t: "/reservations/export", budget_or_finance),
    "reservations.policy": ("GET", lambda t: "/reservations/policy", policy_setters),
    "sheets.download": ("GET", lambda t: f"/reservations/sheets/{t.sheet_id}", sheet_viewers),
    "sheets.verify": ("GET", lambda t: f"/verify/{t.sheet_code}", public),
    "audit_log.index": ("GET", lambda t: "/audit/", audit_readers),
    "audit_log.export": ("GET", lambda t: "/audit/export?format=csv", audit_readers),
    "audit_log.run_verify": ("POST", lambda t: "/audit/verify", audit_admin_only),
    "budget_units.index": ("GET", lambda t: "/budget-units/", finance_only),
    "budget_units.template": ("GET", lambda t: "/budget-units/template", finance_only),
    "budget_units.import_units": ("POST", lambda t: "/budget-units/import", finance_only),
    "budget_units.error_file": ("GET", lambda t: "/budget-units/import/errors", finance_without_a_failed_file),
    "budget_units.unit": ("GET", lambda t: f"/budget-units/{t.budget_unit.unit_id}",
                          business_managers_of("province_finance", "superior_budget")),
    "budget_units.rename": ("POST", lambda t: f"/budget-units/{t.budget_unit.unit_id}/rename",
                            business_managers_of("province_finance", "superior_budget")),
    "budget_units.close": ("POST", lambda t: f"/budget-units/{t.budget_unit.unit_id}/close",
                           business_managers_of("province_finance", "superior_budget")),
    "budget_units.merge": ("POST", lambda t: f"/budget-units/{t.budget_unit.unit_id}/merge",
                           business_managers_of("province_finance", "superior_budget")),
    "reference_data.index": ("GET", lambda t: "/reference-data/", answered(REDIRECT_SAME, reference_editors)),
    # The reporting periods are the records area's; their old address sends there.
    "reference_data.periods": ("GET", lambda t: "/reference-data/periods",
                               answered(REDIRECT_ELSEWHERE, reference_editors)),
    "periods.index": ("GET", lambda t: "/records/periods", reference_editors),
    "periods.add_period": ("POST", lambda t: "/records/periods", reference_editors),
    "periods.set_period_open": ("POST", lambda t: f"/records/periods/{t.period_id}/open",
                                answered(BAD_REQUEST, reference_editors)),
    "reference_data.lists": ("GET", lambda t: "/reference-data/lists", reference_editors),
    "reference_data.add_entry": ("POST", lambda t: "/reference-data/lists/category", reference_editors),
    "reference_data.set_entry_active": ("POST", lambda t: f"/reference-data/lists/entries/{t.entry_id}/active",
                                        answered(BAD_REQUEST, reference_editors)),
    "reference_data.counties": ("GET", lambda t: "/reference-data/counties", reference_editors),
    "reference_data.set_key_county": ("POST", lambda t: "/reference-data/counties/451225/key",
                                      answered(BAD_REQUEST, reference_editors)),
    # Second factor: every login's own page; accounts that must have one were enrolled by the
    # login fixture, so their enrolment pages send back to it, and no session here owes a code.
    "second_factor.index": ("GET", lambda t: "/second-factor", logged_in),
    "second_factor.enrol": ("GET", lambda t: "/second-factor/enrol", enrolled_elsewhere),
    "second_factor.enrol_submit": ("POST", lambda t: "/second-factor/enrol", enrolled_elsewhere),
    "second_factor.verify": ("GET", lambda t: "/second-factor/verify", answered(REDIRECT_SAME, logged_in)),
    "second_factor.verify_submit": ("POST", lambda t: "/second-factor/verify", answered(REDIRECT_SAME, logged_in)),
    "second_factor.reset": ("POST", lambda t: f"/security/second-factor/{t.gz_market.id}/reset",
                            security_admins(REDIRECT_ELSEWHERE)),
    # The security administrator's pages (安全管理员). A session that does not exist (or ended)
    # sends back to the list; the merchant is disabled, then enabled again.
    "security.sessions": ("GET", lambda t: "/security/", security_admins(OK)),
    "security.end_session": ("POST", lambda t: "/security/sessions/999999/end", security_admins(REDIRECT_SAME)),
    "security.accounts": ("GET", lambda t: "/security/accounts?q=批发", security_admins(OK)),
    "security.unlock": ("POST", lambda t: f"/security/accounts/{t.gz_merchant.id}/unlock",
                        security_admins(REDIRECT_SAME)),
    "security.disable_account": ("POST", lambda t: f"/security/accounts/{t.gz_merchant.id}/disable",
                                 security_admins(REDIRECT_SAME)),
    "security.enable_account": ("POST", lambda t: f"/security/accounts/{t.gz_merchant.id}/enable",
                                security_admins(REDIRECT_SAME)),
    "security.settings": ("GET", lambda t: "/security/settings", security_admins(OK)),
    "jobs.index": ("GET", lambda t: "/security/jobs/", security_admins(OK)),
    "jobs.retry": ("POST", lambda t: f"/security/jobs/{t.failed_job_id}/retry", security_admins(REDIRECT_SAME)),
    # A large export's page and file: only the account that asked (the Guangzhou office) sees them.
    "exports.status": ("GET", lambda t: f"/exports/{t.export_job_id}", own_export),
    "exports.download": ("GET", lambda t: f"/exports/{t.export_job_id}/download", own_export),
    # The newer areas' rows (tests/authz_area_*.py).
    **authz_areas.rows(),
    # Last: it ends the session the rows above use, and sends everyone to the login page.
    "auth.logout": ("POST", lambda t: "/logout", lambda role: LOGIN),
}

NOT_ROUTES = {"static"}


def test_every_route_is_in_the_matrix(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()} - NOT_ROUTES
    assert endpoints - set(MATRIX) == set(), "routes missing from the authorization matrix"
    assert set(MATRIX) - endpoints == set(), "matrix rows for routes that no longer exist"


def _record_rows(state):
    """The record routes on the Guangzhou merchant's record in this state (tree.records[state]);
    deleting the voucher comes last, as it takes the voucher the other rows read."""

    def record(t):
        return t.records[state]

    return [
        ("records.detail", "GET", lambda t: f"/records/{record(t)[0]}", record_viewers(state)),
        ("records.edit", "GET", lambda t: f"/records/{record(t)[0]}/edit", record_editors(state)),
        ("records.edit", "POST", lambda t: f"/records/{record(t)[0]}/edit", record_editors(state, "POST")),
        ("records.voucher_file", "GET", lambda t: f"/records/{record(t)[0]}/vouchers/{record(t)[1]}",
         record_viewers(state)),
        ("reviews.panel", "GET", lambda t: f"/reviews/{record(t)[0]}/panel", record_reviewers(state)),
        ("reviews.act", "POST", lambda t: f"/reviews/{record(t)[0]}/act", record_reviewers(state, "POST")),
        ("records.upload_voucher", "POST", lambda t: f"/records/{record(t)[0]}/vouchers", voucher_changers(state)),
        ("records.delete_voucher", "POST", lambda t: f"/records/{record(t)[0]}/vouchers/{record(t)[1]}/delete",
         voucher_changers(state)),
    ]


#: (endpoint, method, url builder, rule): the other method of GET+POST routes, and the record
#: routes on records in the states where who may see or change them differs
MORE_ROWS = [
    # An empty draft may be saved: the filer is sent to its edit page.
    ("records.new", "POST", lambda t: "/records/new", answered(REDIRECT_SAME, filers)),
    ("records.edit", "POST", lambda t: f"/records/{t.record_id}/edit", record_editors("filed", "POST")),
    ("reservations.step_figures", "POST", lambda t: "/reservations/2024/step/1",
     answered(REDIRECT_SAME, budget_units)),
    ("reservations.step_contacts", "POST", lambda t: "/reservations/2024/step/2",
     answered(REDIRECT_SAME, budget_units)),
    ("reservations.step_confirm", "POST", lambda t: "/reservations/2024/step/3",
     answered(REDIRECT_SAME, budget_units)),
    # OPEN_YEAR is open for filing and no unit has a form in it yet: step 1 opens (its empty POST
    # is answered with its field errors, 422); steps 2 and 3 send back to step 1.
    ("reservations.step_figures", "GET", lambda t: f"/reservations/{OPEN_YEAR}/step/1", budget_units),
    ("reservations.step_figures", "POST", lambda t: f"/reservations/{OPEN_YEAR}/step/1", budget_units),
    ("reservations.step_contacts", "GET", lambda t: f"/reservations/{OPEN_YEAR}/step/2",
     answered(REDIRECT_SAME, budget_units)),
    ("reservations.step_contacts", "POST", lambda t: f"/reservations/{OPEN_YEAR}/step/2",
     answered(REDIRECT_SAME, budget_units)),
    ("reservations.step_confirm", "GET", lambda t: f"/reservations/{OPEN_YEAR}/step/3",
     answered(REDIRECT_SAME, budget_units)),
    ("reservations.step_confirm", "POST", lambda t: f"/reservations/{OPEN_YEAR}/step/3",
     answered(REDIRECT_SAME, budget_units)),
    # The empty security policy is answered with its field errors (422).
    ("security.settings", "POST", lambda t: "/security/settings", security_admins(OK)),
    # The empty policy form is answered with its field errors (422).
    ("reservations.policy", "POST", lambda t: "/reservations/policy", policy_setters),
    *[row for state in ("draft", "returned", "submitted", "approved") for row in _record_rows(state)],
    *authz_areas.more_rows(),
]


def _area(path):
    return path.strip("/").split("/")[0]


def _classify(response, url):
    status = response.status_code
    if 300 <= status < 400:
        target = urlsplit(response.headers.get("Location", "")).path
        if _area(target) == "login":
            return LOGIN
        return REDIRECT_SAME if _area(target) == _area(urlsplit(url).path) else REDIRECT_ELSEWHERE
    if 200 <= status < 300 or status == 422:
        return OK
    return {400: BAD_REQUEST, 403: FORBIDDEN, 404: HIDDEN}.get(status, f"status {status}")


def _finished_export(app, tree):
    """The Guangzhou office's export, written by the worker."""
    from portal.accounts.models import Account
    from portal.extensions import db
    from portal.jobs import work_off
    from portal.jobs.exports import queue_export

    job = queue_export("records.review", db.session.get(Account, tree.gz_office.id), {}, "待审核购销记录")
    db.session.commit()
    work_off(kinds=["export"])
    return job


def _waiting_batch(tree):
    """The Guangzhou office's 全部审核通过, not due until tomorrow (so no worker pass approves the
    records the other rows need in their states)."""
    from datetime import timedelta

    from portal.accounts.models import Account
    from portal.clock import utcnow
    from portal.extensions import db
    from portal.records.batch import queue_approve_all

    job = queue_approve_all(db.session.get(Account, tree.gz_office.id), {}, utcnow())
    job.run_after = utcnow() + timedelta(days=1)
    return job


def _record_in(app, tree, state):
    """A record of the Guangzhou merchant moved to `state` through the workflow: (id, voucher id)."""
    from portal.accounts.models import Account
    from portal.extensions import db
    from portal.records import workflow
    from tests.factories import file_record

    def account(role):
        return db.session.get(Account, getattr(tree, role).id)

    record = file_record(account("gz_merchant"), app.instance_path, submit=state != "draft")
    if state == "returned":
        workflow.return_for_changes(account("gz_market"), record, expected_version=record.version,
                                    reason="凭证不清晰，请重新上传")
    if state in ("submitted", "approved"):
        workflow.approve(account("gz_market"), record, expected_version=record.version)
    if state == "approved":
        workflow.approve(account("gz_office"), record, expected_version=record.version)
    db.session.flush()
    assert record.status == state
    return record.id, record.vouchers[0].id


@pytest.fixture
def matrix_tree(app, tree):
    """The tree plus one record the Guangzhou merchant filed, waiting for its market (and one
    record in each other state, in tree.records), and the school's submitted 2024 form."""
    from portal.accounts.models import Account
    from portal.extensions import db
    from portal.jobs.models import Job
    from portal.reservations import sheets
    from portal.reservations.policy import ensure_policy
    from tests.factories import file_record, make_reservation

    with app.app_context():
        record = file_record(db.session.get(Account, tree.gz_merchant.id), app.instance_path)
        reservation = make_reservation(tree)
        sheet = sheets.make_sheet(reservation, "submitted", db.session.get(Account, tree.budget_unit.id),
                                  instance_path=app.instance_path, base_url="http://portal.test")
        ensure_policy(OPEN_YEAR)
        failed_job = Job(kind="sms", summary="短信（test）至 137****1012", status="failed", attempts=8, max_attempts=8,
                         last_error="短信网关发送失败")
        db.session.add(failed_job)
        export_job = _finished_export(app, tree)
        batch_job = _waiting_batch(tree)
        tree.records = {state: _record_in(app, tree, state) for state in ("draft", "returned", "submitted",
                                                                          "approved")}
        db.session.commit()
        tree.record_id, tree.voucher_id = record.id, record.vouchers[0].id
        tree.reservation_id, tree.sheet_id, tree.sheet_code = reservation.id, sheet.id, sheet.verification_code
        tree.period_id, tree.entry_id = record.period_id, record.category_id
        tree.failed_job_id, tree.export_job_id, tree.batch_job_id = failed_job.id, export_job.id, batch_job.id
        authz_areas.prepare(app, tree)
        db.session.commit()
    return tree


def _rows():
    """MATRIX (but logout), then MORE_ROWS, then logout: it ends the session the others use."""
    rows = [(endpoint, *row) for endpoint, row in MATRIX.items() if endpoint != "auth.logout"]
    return rows + MORE_ROWS + [("auth.logout", *MATRIX["auth.logout"])]


def test_more_rows_name_routes_and_methods_that_exist(app):
    adapter = app.url_map.bind("localhost")
    for endpoint, method, url_for_tree, _ in MORE_ROWS:
        assert endpoint in MATRIX
        url = url_for_tree(_AnyTree())
        assert adapter.match(urlsplit(url).path, method=method)[0] == endpoint, (endpoint, method)


class _AnyTree:
    """Stands in for the tree when only a URL's shape matters."""

    records = {state: (1, 1) for state in SEES_RECORD}

    def __getattr__(self, name):
        return 1


def test_get_and_post_routes_are_tried_with_both_methods(app):
    both = {rule.endpoint for rule in app.url_map.iter_rules() if {"GET", "POST"} <= rule.methods}
    tried = {(endpoint, MATRIX[endpoint][0]) for endpoint in MATRIX}
    tried |= {(endpoint, method) for endpoint, method, _, _ in MORE_ROWS}
    assert {(endpoint, method) for endpoint in both for method in ("GET", "POST")} <= tried


@pytest.mark.parametrize("role", ROLES)
def test_role_against_every_route(role, app, client, matrix_tree, login):
    tree = matrix_tree
    client.run_worker = False  # who may reach what; the jobs a step queues are tried elsewhere
    if role != "anonymous":
        login(client, getattr(tree, role).phone)
    token = csrf_token(client, "/" if role != "anonymous" else "/login")
    mismatches = []
    for endpoint, method, url_for_tree, rule in _rows():
        url = url_for_tree(tree)
        if method == "GET":
            response = client.get(url)
        else:
            response = client.post(url, data={}, headers={"X-CSRFToken": token})
        got, expected = _classify(response, url), rule(role)
        if got != expected:
            mismatches.append(f"{method} {url} ({endpoint}): expected {expected}, got {got} "
                              f"[{response.status_code} {response.headers.get('Location', '')}]")
    assert not mismatches, f"{len(mismatches)} mismatches:\n" + "\n".join(mismatches)
