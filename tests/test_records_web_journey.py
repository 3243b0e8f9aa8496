"""The monitoring journey through HTTP: file, review at two levels, return, resubmit, totals."""
import io
import re

from sqlalchemy import select

from portal.extensions import db
from portal.records.models import PurchaseRecord, ReviewEvent
from tests.conftest import csrf_token
from tests.records_helpers import PNG, record_form


def _post(client, url, data, headers=None, **kwargs):
    token = csrf_token(client, "/")
    return client.post(url, data={**data, "csrf_token": token}, headers={"X-CSRFToken": token, **(headers or {})},
                       **kwargs)


def test_merchant_to_province_journey(app, tree, login, outbox):
    merchant, market, city, province = (app.test_client() for _ in range(4))
    login(merchant, tree.gz_merchant.phone)
    login(market, tree.gz_market.phone)
    login(city, tree.gz_reviewer.phone)
    login(province, tree.province.phone)

    with app.app_context():
        form = record_form()
    created = _post(merchant, "/records/new", form)
    assert created.status_code == 302
    record_id = int(re.search(r"/records/(\d+)/edit", created.headers["Location"]).group(1))

    # Submitting without a voucher is refused, with the reason shown.
    refused = _post(merchant, f"/records/{record_id}/edit", {**form, "action": "submit", "version": "1"})
    assert refused.status_code == 422
    assert "请至少上传一份采购凭证" in refused.get_data(as_text=True)

    uploaded = _post(merchant, f"/records/{record_id}/vouchers",
                     {"kind": "invoice", "file": (io.BytesIO(PNG), "发票.png")},
                     content_type="multipart/form-data")
    assert uploaded.status_code == 200 and "发票.png" in uploaded.get_data(as_text=True)

    with app.app_context():
        version = db.session.get(PurchaseRecord, record_id).version
    submitted = _post(merchant, f"/records/{record_id}/edit", {**form, "action": "submit", "version": version})
    assert submitted.status_code == 302

    def status():
        with app.app_context():
            record = db.session.get(PurchaseRecord, record_id)
            return record.status, record.version

    assert status()[0] == "filed"
    # The city does not see it before the market has approved it.
    assert city.get(f"/records/{record_id}").status_code == 404
    assert "大米" in market.get("/reviews/").get_data(as_text=True)

    assert _post(market, f"/reviews/{record_id}/act", {"decision": "approve", "version": status()[1]}).status_code == 302
    assert status()[0] == "submitted"

    returned = _post(city, f"/reviews/{record_id}/act", {"decision": "return", "version": status()[1], "reason": ""},
                     headers={"HX-Request": "true"})
    assert returned.status_code == 422 and "退回时请填写退回原因" in returned.get_data(as_text=True)
    _post(city, f"/reviews/{record_id}/act", {"decision": "return", "version": status()[1], "reason": "金额与发票不符"})
    assert status()[0] == "returned"
    assert any("金额与发票不符" in m["text"] for m in outbox.messages(tree.gz_merchant.phone))

    page = merchant.get(f"/records/{record_id}/edit").get_data(as_text=True)
    assert "金额与发票不符" in page
    _post(merchant, f"/records/{record_id}/edit", {**form, "amount": "12000.00", "action": "submit",
                                                   "version": status()[1]})
    assert status()[0] == "filed"
    _post(market, f"/reviews/{record_id}/act", {"decision": "approve", "version": status()[1]})
    panel = city.get(f"/reviews/{record_id}/panel").get_data(as_text=True)
    assert "退回后修改的内容" in panel and "12,000.00" in panel and "12,800.50" in panel
    _post(city, f"/reviews/{record_id}/act", {"decision": "approve", "version": status()[1]})
    assert status()[0] == "approved"

    totals = province.get("/reports/").get_data(as_text=True)
    assert "广州市" in totals and "12,000.00" in totals and "罗城仫佬族自治县" in totals
    with app.app_context():
        actions = db.session.scalars(select(ReviewEvent.action).where(ReviewEvent.record_id == record_id)
                                     .order_by(ReviewEvent.id)).all()
    assert actions == ["submit", "approve", "return", "submit", "approve", "approve"]
