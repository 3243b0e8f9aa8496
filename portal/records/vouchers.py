"""Voucher files (采购凭证): checked by content, images re-encoded and PDFs inspected
(voucher_content.py), kept in the file store (portal/storage.py: FILES_DIR/vouchers, by default
the instance folder's) under generated names, removed only while the record is editable."""
import hashlib

from portal import audit, storage
from portal.clock import utcnow
from portal.errors import PermissionDenied, ValidationFailed
from portal.extensions import db
from portal.records import rules
from portal.records.models import Voucher
from portal.records.states import VOUCHER_KINDS
from portal.records.voucher_content import check_pdf, clean_filename, clean_image, served_name

#: content type by the file's first bytes, and the file-name endings that may carry it
SIGNATURES = (
    (b"\xff\xd8\xff", "image/jpeg", (".jpg", ".jpeg")),
    (b"\x89PNG\r\n\x1a\n", "image/png", (".png",)),
    (b"%PDF-", "application/pdf", (".pdf",)),
)
EXTENSION_OF = {"image/jpeg": ".jpg", "image/png": ".png", "application/pdf": ".pdf"}

#: on every voucher response: an opaque origin with no script, whatever a browser makes of the
#: bytes. Chromium's image viewer styles its page inline: without style-src it is not centred.
SERVING_HEADERS = {
    "Content-Security-Policy": "sandbox; default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; "
                               "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "private, no-store",
    "Cross-Origin-Resource-Policy": "same-origin",
}


def sniff(head):
    for magic, content_type, endings in SIGNATURES:
        if head.startswith(magic):
            return content_type, endings
    return None, ()


def download_name(voucher):
    """The voucher's name as offered to a browser: safe in a header whatever the row holds."""
    return served_name(voucher.original_name, EXTENSION_OF.get(voucher.content_type, ""))


def voucher_store(instance_path=None):
    return storage.store("vouchers", instance_path)


def voucher_root(instance_path=None):
    """The vouchers' folder: FILES_DIR/vouchers when FILES_DIR is set, else the instance folder's."""
    return voucher_store(instance_path).root


def add_voucher(actor, record, stream, filename, kind, *, root=None, max_bytes):
    """Store one uploaded file on the record (in ROOT, by default the app's vouchers folder); a
    refused file changes nothing, and the file goes again unless the caller commits."""
    if not rules.may_edit(actor, record):
        raise PermissionDenied("该记录已提交，不能再上传凭证")
    if kind not in VOUCHER_KINDS:
        raise ValidationFailed({"kind": "请选择凭证类型"})
    if not (filename or "").strip():
        raise ValidationFailed({"file": "请选择要上传的文件"})
    filename = clean_filename(filename)
    content = stream.read(max_bytes + 1)
    if len(content) > max_bytes:
        raise ValidationFailed({"file": f"文件超过{max_bytes // (1024 * 1024)}MB上限，请压缩后再上传"})
    if not content:
        raise ValidationFailed({"file": "文件是空的，请重新选择"})
    content_type, endings = sniff(content[:8])
    if content_type is None:
        raise ValidationFailed({"file": "只能上传JPG、PNG图片或PDF文件"})
    if not filename.lower().endswith(endings):
        raise ValidationFailed({"file": "文件内容与扩展名不符，请上传真实的JPG、PNG图片或PDF文件"})
    # The duplicate flag compares hashes of what was uploaded: stable across Pillow versions,
    # and the file the uploader can show they sent. The disk keeps the cleaned bytes.
    sha256 = hashlib.sha256(content).hexdigest()
    if content_type == "application/pdf":
        check_pdf(content)
    else:
        content = clean_image(content, content_type)

    now = utcnow()
    files = storage.FileStore(root) if root is not None else voucher_store()
    stored_name = files.save(f"{now:%Y/%m}", EXTENSION_OF[content_type], content)
    files.discard_unless_committed(db.session, stored_name)
    voucher = Voucher(record=record, kind=kind, original_name=filename, stored_name=stored_name,
                      content_type=content_type, size=len(content), sha256=sha256, uploaded_at=now,
                      uploaded_by_id=actor.id)
    db.session.add(voucher)
    db.session.flush()
    audit.record("voucher_added", actor=actor, object_ref=f"record:{record.id}",
                 detail={"file": voucher.original_name, "kind": kind, "sha256": voucher.sha256[:12]})
    return voucher


def remove_voucher(actor, voucher, *, root=None):
    record = voucher.record
    if not rules.may_edit(actor, record):
        raise PermissionDenied("该记录已提交，凭证不能删除")
    db.session.delete(voucher)
    db.session.flush()
    audit.record("voucher_removed", actor=actor, object_ref=f"record:{record.id}",
                 detail={"file": voucher.original_name})
    # The file goes once the row is gone; the caller's commit makes it final.
    files = storage.FileStore(root) if root is not None else voucher_store()
    return files.path_of(voucher.stored_name)
