"""A purchase record printed as a PDF (issue 12, item 6): its fields, every voucher (name, kind,
size, SHA-256, upload time) and its whole history (unit, masked person, time, action, reason,
what changed after a return), in the sheets' embedded Chinese font; given to whoever may view
the record and to nobody else, and kept in the trail as a download.

The text is read with poppler-utils as the sheets' tests read theirs (tests/test_sheets.py), and
the file is checked as an uploaded voucher would be (portal/records/pdf_inspect.py)."""
import io
import re
from decimal import Decimal

import pytest
from sqlalchemy import select

from portal.accounts.models import Account
from portal.audit import AuditEvent
from portal.extensions import db
from portal.records import pdf_inspect, record_pdf, service, vouchers, workflow
from tests.factories import file_record
from tests.records_helpers import PDF, record_form
from tests.test_sheets import pdf_text, run_tool, squeezed


@pytest.fixture
def history(app, tree):
    """The Guangzhou merchant's record with two vouchers: returned by its market, changed and
    filed again, passed on by the market and approved by the Guangzhou office."""
    with app.app_context():
        def account(role):
            return db.session.get(Account, getattr(tree, role).id)

        merchant, market = account("gz_merchant"), account("gz_market")
        record = file_record(merchant, app.instance_path, submit=False, product_name="丝苗香米")
        vouchers.add_voucher(merchant, record, io.BytesIO(PDF), "购销合同（2024）.pdf", "contract",
                             root=vouchers.voucher_root(app.instance_path), max_bytes=10 * 1024 * 1024)
        workflow.submit(merchant, record, amount_threshold=Decimal("500000"))
        workflow.return_for_changes(market, record, expected_version=record.version, reason="发票金额与填报金额不一致")
        service.save_fields(merchant, record, record_form(product_name="丝苗香米", amount="13000.00"),
                            expected_version=record.version)
        workflow.submit(merchant, record, amount_threshold=Decimal("500000"))
        workflow.approve(market, record, expected_version=record.version)
        workflow.approve(account("gz_office"), record, expected_version=record.version)
        db.session.commit()
        return {"id": record.id, "vouchers": [(v.display_name, v.sha256, v.size) for v in record.vouchers]}


def fetch(client, record_id, tmp_path):
    response = client.get(f"/records/{record_id}/pdf")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf" and "attachment" in response.headers["Content-Disposition"]
    path = tmp_path / f"record-{record_id}.pdf"
    path.write_bytes(response.data)
    return path


def test_the_printed_record_lists_its_vouchers_and_its_whole_history(app, tree, login, history, tmp_path):
    merchant = login(app.test_client(), tree.gz_merchant.phone)
    path = fetch(merchant, history["id"], tmp_path)
    flat = squeezed(pdf_text(path))
    for expected in (f"购销记录（编号{history['id']}）", "广州批发商（批发市场）", "丝苗香米", "13,000.00", "审核通过",
                     "广西壮族自治区/河池市/罗城仫佬族自治县", "打印单位：广州批发商"):
        assert expected in flat, expected
    assert len(history["vouchers"]) == 2  # the factory's invoice and the contract
    for name, sha256, size in history["vouchers"]:
        assert squeezed(name) in flat and sha256 in flat and record_pdf.size_text(size).replace(" ", "") in flat
    assert "发票" in flat and "合同" in flat
    # Every event, in order: who (unit, masked person), what, why, what changed.
    events = re.findall(r"(提交|退回修改|审核通过)(?=(?:已填报|草稿|退回修改|已提交)→)", flat)
    assert events == ["提交", "退回修改", "提交", "审核通过", "审核通过"]
    assert "发票金额与填报金额不一致" in flat
    assert "采购金额（元）12,800.50→13,000.00" in flat
    assert flat.count("联*人") == 5 and "联系人" not in flat  # the person masked on paper
    assert "广州协作办" in flat and "广州批发市场" in flat


def test_the_file_embeds_its_font_and_holds_nothing_active(app, tree, login, history, tmp_path):
    path = fetch(login(app.test_client(), tree.gz_merchant.phone), history["id"], tmp_path)
    fonts = [line.split() for line in run_tool("pdffonts", str(path)).splitlines()[2:] if line.strip()]
    assert fonts and all(row[-5] == "yes" for row in fonts)
    assert any("Noto-Sans-CJK-SC-Sheet" in row[0] for row in fonts)
    pdf_inspect.inspect(path.read_bytes())  # raises Verdict on scripts, attachments, encryption


@pytest.mark.parametrize("role, status", [
    ("gz_market", 200), ("gz_office", 200), ("gz_reviewer", 200), ("province", 200),
    ("sz_office", 404), ("sz_merchant", 404), ("gz_store", 404), ("province_finance", 404), ("audit_admin", 403),
])
def test_only_who_may_view_the_record_prints_it(app, tree, login, history, role, status):
    client = login(app.test_client(), getattr(tree, role).phone)
    assert client.get(f"/records/{history['id']}/pdf").status_code == status


def test_a_draft_prints_for_its_filer_only(app, tree, login, tmp_path):
    with app.app_context():
        draft = file_record(db.session.get(Account, tree.gz_merchant.id), app.instance_path, submit=False)
        db.session.commit()
        draft_id = draft.id
    flat = squeezed(pdf_text(fetch(login(app.test_client(), tree.gz_merchant.phone), draft_id, tmp_path)))
    assert "草稿" in flat and "尚无审核记录" in flat
    assert login(app.test_client(), tree.gz_market.phone).get(f"/records/{draft_id}/pdf").status_code == 404


def test_printing_is_a_download_in_the_trail_and_a_link_on_the_detail_page(app, tree, login, history):
    office = login(app.test_client(), tree.gz_office.phone)
    page = office.get(f"/records/{history['id']}").get_data(as_text=True)
    assert f'href="/records/{history["id"]}/pdf"' in page and "打印PDF" in page
    assert office.get(f"/records/{history['id']}/pdf").status_code == 200
    with app.app_context():
        event = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
        assert (event.action, event.account_id, event.result) == ("download", tree.gz_office.id, "ok")
        assert event.object_ref == f"records.record_pdf:{history['id']}"
        assert event.detail_data["文件类型"] == "application/pdf"
