"""Voucher files (采购凭证): accepted by content, refused when the content is not what the name says
or too large, nothing kept after a refusal, fixed once the record is submitted, and served only to
those who may see the record. Images are stored re-encoded: tests/test_voucher_safety.py has the rest."""
import hashlib
import io
import re
from decimal import Decimal

import pytest
from PIL import Image
from sqlalchemy import func, select

from portal.accounts.models import Account
from portal.errors import PermissionDenied, ValidationFailed
from portal.extensions import db
from portal.records import service, vouchers, workflow
from portal.records.models import PurchaseRecord, Voucher
from tests.conftest import csrf_token
from tests.factories import build_tree, file_record
from tests.records_helpers import JPEG, PDF, PNG, record_form

MB = 1024 * 1024
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 64


@pytest.fixture
def t(app, ctx):
    made = build_tree()
    db.session.commit()
    return made


@pytest.fixture
def root(app):
    return vouchers.voucher_root(app.instance_path)


def files_under(root):
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def add(actor, record, content, name, root, kind="invoice", max_bytes=10 * MB):
    return vouchers.add_voucher(actor, record, io.BytesIO(content), name, kind, root=root, max_bytes=max_bytes)


def test_images_and_pdf_are_accepted_by_content(t, root):
    record = service.create_draft(t.gz_merchant, record_form())
    for content, name, kind, content_type in ((JPEG, "发票.jpg", "invoice", "image/jpeg"),
                                              (JPEG, "合同.JPEG", "contract", "image/jpeg"),
                                              (PNG, "运单.png", "waybill", "image/png"),
                                              (PDF, "其他.pdf", "other", "application/pdf")):
        voucher = add(t.gz_merchant, record, content, name, root, kind=kind)
        assert (voucher.content_type, voucher.kind, voucher.original_name) == (content_type, kind, name)
        # The hash is of what was uploaded (the duplicate flag compares it); size and bytes are what is kept.
        assert voucher.sha256 == hashlib.sha256(content).hexdigest()
        stored = root / voucher.stored_name
        assert voucher.size == stored.stat().st_size
        if content_type == "application/pdf":
            assert stored.read_bytes() == content
        else:
            assert Image.open(stored).size == Image.open(io.BytesIO(content)).size
        # The stored name is generated: nothing of the uploader's name reaches the disk.
        assert name.split(".")[0] not in voucher.stored_name
    db.session.commit()
    assert len(record.vouchers) == 4 and len(files_under(root)) == 4
    # An uploader's path is not kept, and nothing lands outside the voucher folder.
    voucher = add(t.gz_merchant, record, PNG, "../../etc/发票.png", root)
    assert voucher.original_name == "发票.png"
    assert (root / voucher.stored_name).resolve().is_relative_to(root.resolve())


REFUSED = [
    (EXE, "发票.jpg", "只能上传JPG、PNG图片或PDF文件"),  # a renamed executable
    (b"<html><script>alert(1)</script></html>", "发票.png", "只能上传JPG、PNG图片或PDF文件"),
    (PDF, "发票.png", "文件内容与扩展名不符"),
    (PNG, "发票.pdf", "文件内容与扩展名不符"),
    (JPEG, "发票.exe", "文件内容与扩展名不符"),
    (PNG, "发票", "文件内容与扩展名不符"),
    (b"", "发票.png", "文件是空的"),
]


def test_refused_files_leave_nothing_behind(t, root):
    record = service.create_draft(t.gz_merchant, record_form())
    kept = add(t.gz_merchant, record, PNG, "已有发票.png", root)
    db.session.commit()
    files_before = files_under(root)
    kept_bytes = (root / kept.stored_name).read_bytes()

    for content, name, message in REFUSED:
        with pytest.raises(ValidationFailed) as refused:
            add(t.gz_merchant, record, content, name, root)
        assert set(refused.value.errors) == {"file"}, name
        assert message in refused.value.errors["file"], name
        db.session.rollback()

        assert files_under(root) == files_before, name
        assert db.session.scalar(select(func.count()).select_from(Voucher)) == 1, name
        db.session.expire_all()
        assert [v.id for v in record.vouchers] == [kept.id]
        assert (root / kept.stored_name).read_bytes() == kept_bytes


def test_an_oversize_file_and_missing_fields_are_refused(t, root):
    record = service.create_draft(t.gz_merchant, record_form())
    with pytest.raises(ValidationFailed) as refused:
        add(t.gz_merchant, record, PNG + b"\x00" * (2 * MB), "发票.png", root, max_bytes=2 * MB)
    assert refused.value.errors == {"file": "文件超过2MB上限，请压缩后再上传"}
    db.session.rollback()
    assert files_under(root) == []
    assert db.session.scalar(select(func.count()).select_from(Voucher)) == 0
    # Exactly at the limit is fine (the padding after the picture is not kept).
    exact = PNG + b"\x00" * (2 * MB - len(PNG))
    accepted = add(t.gz_merchant, record, exact, "发票.png", root, max_bytes=2 * MB)
    assert accepted.sha256 == hashlib.sha256(exact).hexdigest()
    db.session.commit()
    files_before = files_under(root)

    # A kind and a file name are required.
    with pytest.raises(ValidationFailed) as refused:
        add(t.gz_merchant, record, PNG, "发票.png", root, kind="selfie")
    assert refused.value.errors == {"kind": "请选择凭证类型"}
    with pytest.raises(ValidationFailed) as refused:
        add(t.gz_merchant, record, PNG, "  ", root)
    assert refused.value.errors == {"file": "请选择要上传的文件"}
    db.session.rollback()
    assert files_under(root) == files_before


def test_vouchers_are_fixed_once_the_record_is_submitted(app, t, root):
    record = file_record(t.gz_merchant, app.instance_path)
    db.session.commit()
    assert record.status == "filed"
    voucher = record.vouchers[0]
    with pytest.raises(PermissionDenied):
        vouchers.remove_voucher(t.gz_merchant, voucher, root=root)
    with pytest.raises(PermissionDenied):
        add(t.gz_merchant, record, PDF, "补充.pdf", root)
    db.session.rollback()
    assert [v.id for v in db.session.get(PurchaseRecord, record.id).vouchers] == [voucher.id]
    assert (root / voucher.stored_name).is_file()
    # Nobody else may remove it either, even in draft.
    draft = file_record(t.gz_merchant, app.instance_path, submit=False)
    db.session.commit()
    for other in (t.gz_market, t.sz_merchant, t.gz_reviewer):
        with pytest.raises(PermissionDenied):
            vouchers.remove_voucher(other, draft.vouchers[0], root=root)
    # Once returned, the filer may change them again.
    workflow.return_for_changes(t.gz_market, record, expected_version=record.version, reason="发票不清晰")
    db.session.commit()
    path = vouchers.remove_voucher(t.gz_merchant, voucher, root=root)
    db.session.commit()
    assert path == root / voucher.stored_name
    assert db.session.get(PurchaseRecord, record.id).vouchers == []


# ---- through HTTP ----------------------------------------------------------------------------

def _post(client, url, data, **kwargs):
    token = csrf_token(client, "/")
    return client.post(url, data={**data, "csrf_token": token}, headers={"X-CSRFToken": token}, **kwargs)


@pytest.fixture
def web(app, tree, login):
    clients = {}
    for role in ("gz_merchant", "gz_market", "sz_market", "gz_reviewer", "sz_reviewer", "province"):
        clients[role] = login(app.test_client(), getattr(tree, role).phone)
    return clients


def test_a_voucher_is_served_to_those_who_may_see_the_record(app, tree, web):
    with app.app_context():
        merchant = db.session.get(Account, tree.gz_merchant.id)
        record = file_record(merchant, app.instance_path)
        db.session.commit()
        record_id, voucher_id = record.id, record.vouchers[0].id
    url = f"/records/{record_id}/vouchers/{voucher_id}"
    with app.app_context():
        stored_name = db.session.get(Voucher, voucher_id).stored_name
        stored = (vouchers.voucher_root(app.instance_path) / stored_name).read_bytes()

    for role in ("gz_merchant", "gz_market"):
        inline = web[role].get(url)
        assert inline.status_code == 200, role
        assert inline.data == stored
        assert "sandbox" in inline.headers["Content-Security-Policy"]
        assert inline.headers["Content-Type"] == "image/png"
        assert inline.headers["Content-Disposition"].startswith("inline")
        assert inline.headers["X-Content-Type-Options"] == "nosniff"
        download = web[role].get(url + "?download=1")
        assert download.status_code == 200 and download.data == stored
        assert download.headers["Content-Disposition"].startswith("attachment")
        assert "%E5%8F%91%E7%A5%A8.png" in download.headers["Content-Disposition"]  # 发票.png
        assert download.headers["X-Content-Type-Options"] == "nosniff"

    # Another market, another city, and (before the market approved it) its own city: 404.
    for role in ("sz_market", "sz_reviewer", "gz_reviewer", "province"):
        assert web[role].get(url).status_code == 404, role
        assert web[role].get(url + "?download=1").status_code == 404, role
    # A voucher id under another record's URL is a 404 too, though the merchant may see both.
    with app.app_context():
        other = file_record(db.session.get(Account, tree.gz_merchant.id), app.instance_path, submit=False)
        db.session.commit()
        other_id = other.id
    assert web["gz_merchant"].get(f"/records/{other_id}").status_code == 200
    assert web["gz_merchant"].get(f"/records/{other_id}/vouchers/{voucher_id}").status_code == 404

    with app.app_context():
        record = db.session.get(PurchaseRecord, record_id)
        workflow.approve(db.session.get(Account, tree.gz_market.id), record, expected_version=record.version)
        db.session.commit()
    reached = web["gz_reviewer"].get(url)
    assert reached.status_code == 200 and reached.headers["X-Content-Type-Options"] == "nosniff"
    assert web["sz_reviewer"].get(url).status_code == 404
    assert web["sz_market"].get(url).status_code == 404


def test_upload_through_http(app, tree, web):
    merchant = web["gz_merchant"]
    with app.app_context():
        form = record_form()
    created = _post(merchant, "/records/new", form)
    record_id = int(re.search(r"/records/(\d+)/edit", created.headers["Location"]).group(1))
    url = f"/records/{record_id}/vouchers"
    ok = _post(merchant, url, {"kind": "invoice", "file": (io.BytesIO(PNG), "发票.png")},
               content_type="multipart/form-data")
    assert ok.status_code == 200 and "发票.png" in ok.get_data(as_text=True)
    root = vouchers.voucher_root(app.instance_path)
    files_before = files_under(root)

    renamed = _post(merchant, url, {"kind": "invoice", "file": (io.BytesIO(EXE), "发票.jpg")},
                    content_type="multipart/form-data")
    assert renamed.status_code == 422
    assert "只能上传JPG、PNG图片或PDF文件" in renamed.get_data(as_text=True)
    mismatched = _post(merchant, url, {"kind": "invoice", "file": (io.BytesIO(PDF), "合同.png")},
                       content_type="multipart/form-data")
    assert mismatched.status_code == 422
    assert "文件内容与扩展名不符" in mismatched.get_data(as_text=True)
    # The list shown after a refusal still holds the earlier voucher.
    assert "发票.png" in mismatched.get_data(as_text=True)
    assert files_under(root) == files_before
    with app.app_context():
        assert [v.original_name for v in db.session.get(PurchaseRecord, record_id).vouchers] == ["发票.png"]

    # Another merchant cannot upload to this record: it does not exist for them.
    other = _post(web["gz_market"], url, {"kind": "invoice", "file": (io.BytesIO(PNG), "x.png")},
                  content_type="multipart/form-data")
    assert other.status_code == 404
    assert files_under(root) == files_before


def test_an_oversize_upload_through_http_names_the_limit(app_factory, login):
    from portal.reference.loader import load_reference_data
    from tests.conftest import _wipe

    app = app_factory(VOUCHER_MAX_MB=1)
    with app.app_context():
        _wipe(app)
        load_reference_data()
        made = build_tree()
        db.session.commit()
        merchant_phone = made.gz_merchant.phone
        form = record_form()
    client = login(app.test_client(), merchant_phone)
    created = _post(client, "/records/new", form)
    record_id = int(re.search(r"/records/(\d+)/edit", created.headers["Location"]).group(1))
    big = PNG + b"\x00" * (MB + 10)
    refused = _post(client, f"/records/{record_id}/vouchers", {"kind": "invoice", "file": (io.BytesIO(big), "发票.png")},
                    content_type="multipart/form-data")
    assert refused.status_code == 422
    assert "文件超过1MB上限" in refused.get_data(as_text=True)
    assert files_under(vouchers.voucher_root(app.instance_path)) == []
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Voucher)) == 0


def test_removing_a_submitted_records_voucher_through_http_is_refused(app, tree, web):
    with app.app_context():
        record = file_record(db.session.get(Account, tree.gz_merchant.id), app.instance_path)
        db.session.commit()
        record_id, voucher = record.id, record.vouchers[0]
        stored = vouchers.voucher_root(app.instance_path) / voucher.stored_name
        voucher_id = voucher.id
    refused = _post(web["gz_merchant"], f"/records/{record_id}/vouchers/{voucher_id}/delete", {})
    assert refused.status_code == 403
    assert stored.is_file()
    with app.app_context():
        assert db.session.get(Voucher, voucher_id) is not None
        assert db.session.get(PurchaseRecord, record_id).amount == Decimal("12800.50")
