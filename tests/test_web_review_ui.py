"""What a reviewer sees in the queue's panel: figures as people write them, a lost race shown in
place of the stale buttons, and where focus goes (the data-focus marks portal.js follows)."""
import io
import json
import re

from portal.accounts.models import Account
from portal.extensions import db
from portal.records import service, vouchers, workflow
from portal.records.models import PurchaseRecord
from tests.conftest import csrf_token
from tests.records_helpers import PNG, record_form
from tests.test_record_concurrency import THRESHOLD

HX = {"HX-Request": "true"}


def _submitted(app, tree, **fields):
    with app.app_context():
        enterprise = db.session.get(Account, tree.gz_enterprise.id)
        record = service.create_draft(enterprise, record_form(**fields))
        vouchers.add_voucher(enterprise, record, io.BytesIO(PNG), "发票.png", "invoice",
                             root=vouchers.voucher_root(app.instance_path), max_bytes=1024 * 1024)
        workflow.submit(enterprise, record, amount_threshold=THRESHOLD)
        db.session.commit()
        return record.id, record.version


def _post(client, url, data, headers=None):
    token = csrf_token(client, "/")
    return client.post(url, data={**data, "csrf_token": token}, headers={"X-CSRFToken": token, **(headers or {})})


def _field(page, label):
    return re.search(rf"<dt class=\"col-4\">{re.escape(label)}</dt><dd[^>]*>([^<]*)</dd>", page).group(1)


def test_quantities_and_amounts_print_as_people_write_them(app, tree, login, client):
    record_id, _ = _submitted(app, tree, quantity="100", amount="1234567.50")
    login(client, tree.gz_reviewer.phone)
    panel = client.get(f"/reviews/{record_id}/panel").get_data(as_text=True)
    assert _field(panel, "采购数量") == "100"  # Decimal.normalize() alone printed 1E+2
    assert _field(panel, "采购金额（元）") == "1,234,567.50"
    assert "E+" not in panel


def test_changes_since_a_return_show_amounts_with_separators(app, tree, login, client):
    record_id, version = _submitted(app, tree, quantity="2000", amount="12800.50")
    with app.app_context():
        reviewer = db.session.get(Account, tree.gz_reviewer.id)
        record = db.session.get(PurchaseRecord, record_id)
        workflow.return_for_changes(reviewer, record, expected_version=version, reason="金额有误")
        db.session.commit()
        enterprise = db.session.get(Account, tree.gz_enterprise.id)
        service.save_fields(enterprise, record, record_form(quantity="3000", amount="1500000"))
        workflow.submit(enterprise, record, amount_threshold=THRESHOLD)
        db.session.commit()
    login(client, tree.gz_reviewer.phone)
    panel = client.get(f"/reviews/{record_id}/panel").get_data(as_text=True)
    changes = panel[panel.index('id="changes-since-return"'):]
    changes = changes[:changes.index("</table>")]
    assert "12,800.50" in changes and "1,500,000.00" in changes
    assert "2,000" in changes and "3,000" in changes and "E+" not in changes


def test_the_panel_announces_itself_by_taking_focus(app, tree, login, client):
    record_id, _ = _submitted(app, tree)
    login(client, tree.gz_reviewer.phone)
    panel = client.get(f"/reviews/{record_id}/panel").get_data(as_text=True)
    heading = re.search(r"<h2[^>]*id=\"review-panel-title\"[^>]*>", panel).group(0)
    assert 'tabindex="-1"' in heading and "data-focus" in heading
    assert 'aria-labelledby="review-panel-title"' in panel


def test_a_lost_race_redraws_the_panel_with_the_message_and_no_toast(app, tree, login):
    record_id, version = _submitted(app, tree)
    first, second = app.test_client(), app.test_client()
    login(first, tree.gz_reviewer.phone)
    login(second, tree.gz_office.phone)
    for client in (first, second):
        assert 'name="view" value="panel"' in client.get(f"/reviews/{record_id}/panel").get_data(as_text=True)
    assert _post(first, f"/reviews/{record_id}/act", {"decision": "approve", "version": version, "view": "panel"},
                 headers=HX).status_code == 200

    late = _post(second, f"/reviews/{record_id}/act",
                 {"decision": "return", "version": version, "reason": "金额不对", "view": "panel"}, headers=HX)
    assert late.status_code == 409
    # The whole panel is replaced: its fields show the state the other reviewer left.
    assert late.headers["HX-Retarget"] == "#review-panel-card" and late.headers["HX-Reswap"] == "outerHTML"
    body = late.get_data(as_text=True)
    assert body.lstrip().startswith('<section class="card review-panel" id="review-panel-card"')
    assert 'data-status="approved"' in body
    alert = re.search(r'<div class="alert[^"]*" role="alert"[^>]*id="conflict-message">([^<]+)<', body)
    assert alert and "广州审核员" in alert.group(1) and "审核通过" in alert.group(1)
    assert "data-focus" in re.search(r'<div[^>]*id="conflict-message"', body).group(0)
    assert 'name="decision"' not in body  # no stale buttons
    # One message on screen: the queue is told to refresh, but no toast is raised.
    assert "toast" not in late.headers.get("HX-Trigger", "") and "queueChanged" in late.headers["HX-Trigger"]


def test_a_lost_race_on_the_record_page_keeps_its_actions_fragment(app, tree, login):
    record_id, version = _submitted(app, tree)
    first, second = app.test_client(), app.test_client()
    login(first, tree.gz_reviewer.phone)
    login(second, tree.gz_office.phone)
    _post(first, f"/reviews/{record_id}/act", {"decision": "approve", "version": version}, headers=HX)
    late = _post(second, f"/reviews/{record_id}/act", {"decision": "approve", "version": version}, headers=HX)
    assert late.status_code == 409 and "HX-Retarget" not in late.headers
    body = late.get_data(as_text=True)
    assert body.lstrip().startswith(f'<div id="review-actions-{record_id}"') and 'role="alert"' in body


def test_a_refused_return_ties_the_error_to_the_reason_and_focuses_it(app, tree, login, client):
    record_id, version = _submitted(app, tree)
    login(client, tree.gz_reviewer.phone)
    refused = _post(client, f"/reviews/{record_id}/act",
                    {"decision": "return", "version": version, "reason": "", "view": "panel"}, headers=HX)
    assert refused.status_code == 422
    body = refused.get_data(as_text=True)
    textarea = re.search(r"<textarea[^>]*>", body).group(0)
    assert 'aria-invalid="true"' in textarea and "data-focus" in textarea
    described = re.search(r'aria-describedby="([^"]+)"', textarea).group(1)
    assert "退回原因" in re.search(rf'id="{described}">([^<]+)<', body).group(1)
    assert 'name="view" value="panel"' in body  # still the panel's form after the error


def test_an_approval_focuses_its_outcome(app, tree, login, client):
    record_id, version = _submitted(app, tree)
    login(client, tree.gz_reviewer.phone)
    done = _post(client, f"/reviews/{record_id}/act", {"decision": "approve", "version": version, "view": "panel"},
                 headers=HX)
    assert done.status_code == 200
    outcome = re.search(r'<div[^>]*role="status"[^>]*>', done.get_data(as_text=True)).group(0)
    assert "data-focus" in outcome and 'tabindex="-1"' in outcome
    assert json.loads(done.headers["HX-Trigger"])["queueChanged"] is True
