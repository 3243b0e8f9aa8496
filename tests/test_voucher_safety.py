"""Voucher uploads that cannot carry code (issue 9, item 6): images are decoded and re-encoded
(no EXIF or GPS, nothing after the picture), bombs and broken files are refused, PDFs that run,
launch or carry something are refused, file names lose what breaks headers or fools the eye, and
every voucher response is sandboxed, unsniffable and uncached; a PDF is always an attachment."""
import io
import re
import struct
import time
import zlib
from urllib.parse import quote

import pytest
from PIL import ExifTags, Image
from pypdf import PdfWriter
from pypdf.actions import JavaScript
from pypdf.generic import ArrayObject, DictionaryObject, NameObject, TextStringObject
from sqlalchemy import func, select, update

from portal.accounts.models import Account
from portal.errors import ValidationFailed
from portal.extensions import db
from portal.records import service, voucher_content, vouchers
from portal.records.models import Voucher
from portal.records.voucher_content import clean_filename
from tests.conftest import csrf_token
from tests.factories import build_tree, file_record
from tests.records_helpers import PDF, record_form

MB = 1024 * 1024
HUGE = "图片像素过大（超过4000万像素），请缩小后再上传"
BROKEN_IMAGE = "文件已损坏或不是有效的图片"
ACTIVE_PDF = "PDF中含有脚本或自动执行的动作，不能作为凭证上传"
EMBEDDED_PDF = "PDF中含有附件或多媒体内容，不能作为凭证上传"


def image_bytes(image_format, size=(40, 20), mode="RGB", **save):
    out = io.BytesIO()
    Image.new(mode, size, "orange").save(out, image_format, **save)
    return out.getvalue()


def pdf_bytes(change=None, pages=1):
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=595, height=842)
    if change:
        change(writer)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def action(kind, **entries):
    made = DictionaryObject({NameObject("/Type"): NameObject("/Action"), NameObject("/S"): NameObject(kind)})
    made.update({NameObject(f"/{key}"): value for key, value in entries.items()})
    return made


def open_action(value):
    return lambda writer: writer._root_object.__setitem__(NameObject("/OpenAction"), value)


def png_declaring(width, height):
    """A tiny valid PNG whose header then claims another size (its CRC fixed)."""
    content = bytearray(image_bytes("PNG", (1, 1), "L"))
    content[16:24] = struct.pack(">II", width, height)
    content[29:33] = struct.pack(">I", zlib.crc32(bytes(content[12:29])))
    return bytes(content)


@pytest.fixture
def t(app, ctx):
    made = build_tree()
    db.session.commit()
    made.record = service.create_draft(made.gz_merchant, record_form())
    made.root = vouchers.voucher_root(app.instance_path)
    return made


def add(t, content, name):
    return vouchers.add_voucher(t.gz_merchant, t.record, io.BytesIO(content), name, "invoice",
                                root=t.root, max_bytes=10 * MB)


def refused(t, content, name):
    with pytest.raises(ValidationFailed) as refusal:
        add(t, content, name)
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Voucher)) == 0
    assert not t.root.exists() or not any(p.is_file() for p in t.root.rglob("*"))
    return refusal.value.errors["file"]


# ---- images ----------------------------------------------------------------------------------

def test_a_photo_loses_its_exif_and_gps_and_stays_upright(t):
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "Phone"
    exif[ExifTags.Base.Orientation] = 6  # the camera was turned: show it rotated a quarter
    exif.get_ifd(ExifTags.IFD.GPSInfo).update({ExifTags.GPS.GPSLatitudeRef: "N",
                                               ExifTags.GPS.GPSLatitude: (23.0, 7.0, 30.0)})
    photo = image_bytes("JPEG", (40, 20), exif=exif)
    assert Image.open(io.BytesIO(photo)).getexif().get_ifd(ExifTags.IFD.GPSInfo)

    voucher = add(t, photo, "发票.jpg")
    stored = (t.root / voucher.stored_name).read_bytes()
    with Image.open(io.BytesIO(stored)) as image:
        assert image.format == "JPEG" and image.size == (20, 40)
        assert not image.getexif() and "exif" not in image.info
    assert b"Exif" not in stored and b"Phone" not in stored
    assert voucher.size == len(stored)


@pytest.mark.parametrize("image_format,name", [("JPEG", "发票.jpg"), ("PNG", "发票.png")])
def test_html_after_or_inside_a_picture_is_not_kept(t, image_format, name):
    script = b"<html><script>alert(document.cookie)</script></html>"
    polyglot = image_bytes(image_format) + script
    voucher = add(t, polyglot, name)
    stored = (t.root / voucher.stored_name).read_bytes()
    assert b"<script" not in stored and b"<html" not in stored
    assert Image.open(io.BytesIO(stored)).size == (40, 20)
    # In a JPEG comment too: Pillow would write the comment back unless told not to.
    if image_format == "JPEG":
        voucher = add(t, image_bytes("JPEG", comment=script), "合同.jpg")
        assert b"<script" not in (t.root / voucher.stored_name).read_bytes()


def test_the_duplicate_hash_is_of_the_uploaded_bytes(t):
    content = image_bytes("PNG") + b"-first-copy"
    first = add(t, content, "发票.png")
    second = add(t, content, "发票.png")
    other = add(t, image_bytes("PNG") + b"-second-copy", "发票.png")
    assert first.sha256 == second.sha256 != other.sha256
    # The three stored pictures are the same pixels; what was uploaded tells them apart.
    assert len({(t.root / v.stored_name).read_bytes() for v in (first, second, other)}) == 1


@pytest.mark.parametrize("width,height", [(20000, 20000), (7000, 6000), (100000, 100000)])
def test_a_decompression_bomb_is_refused_before_it_is_decoded(t, width, height):
    started = time.monotonic()
    assert refused(t, png_declaring(width, height), "发票.png") == HUGE
    assert time.monotonic() - started < 1


def test_a_real_oversized_picture_is_refused(t):
    # 42 megapixels of one colour: a few kilobytes on the wire, 126 MB once decoded as RGB.
    big = image_bytes("PNG", (7000, 6000), mode="1")
    assert len(big) < 100_000
    assert refused(t, big, "发票.png") == HUGE


def test_broken_pictures_are_refused(t):
    noisy = Image.effect_noise((200, 200), 80).convert("RGB")
    out = io.BytesIO()
    noisy.save(out, "JPEG")
    photo = out.getvalue()
    png = image_bytes("PNG", (200, 200))
    cases = [
        (photo[: len(photo) // 2], "发票.jpg"),  # truncated
        (b"\xff\xd8\xff\xe0" + b"\x00" * 64, "发票.jpg"),  # a JPEG start and nothing else
        (photo[:200] + bytes(range(256)) * 20, "发票.jpg"),  # garbage after the header
        (png[:60], "发票.png"),  # no image data
        (png[:40] + b"\x00" * 4 + png[44:], "发票.png"),  # a broken chunk
    ]
    for content, name in cases:
        assert BROKEN_IMAGE in refused(t, content, name), content[:16]


# ---- PDFs ------------------------------------------------------------------------------------

def test_a_plain_pdf_is_kept_as_uploaded(t):
    for content in (PDF, pdf_bytes(open_action(ArrayObject([NameObject("/Fit")])))):
        voucher = add(t, content, "发票.pdf")
        assert (t.root / voucher.stored_name).read_bytes() == content


def page_action(writer):
    on_open = action("/JavaScript", JS=TextStringObject("app.alert(1)"))
    writer.pages[0][NameObject("/AA")] = DictionaryObject({NameObject("/O"): on_open})


ACTIVE = [
    ("open action script", open_action(action("/JavaScript", JS=TextStringObject("app.alert(1)")))),
    ("document-level script", lambda writer: writer.add_open_action(JavaScript("app.alert(1)"))),
    ("page additional action", page_action),
    ("launch on open", open_action(action("/Launch", F=TextStringObject("calc.exe")))),
    ("named action on open", open_action(action("/Named", N=NameObject("/Print")))),
    ("form submission on open", open_action(action("/SubmitForm", F=TextStringObject("http://example.com")))),
    ("remote document on open", open_action(action("/GoToR", F=TextStringObject("other.pdf")))),
]


@pytest.mark.parametrize("change", [change for _, change in ACTIVE], ids=[label for label, _ in ACTIVE])
def test_a_pdf_that_runs_something_is_refused(t, change):
    assert ACTIVE_PDF in refused(t, pdf_bytes(change), "发票.pdf")


def test_a_pdf_that_carries_a_file_is_refused(t):
    with_file = pdf_bytes(lambda writer: writer.add_attachment("invoice.exe", b"MZ\x90\x00"))
    assert EMBEDDED_PDF in refused(t, with_file, "发票.pdf")


def test_a_pdf_pypdf_cannot_read_is_still_refused_for_what_it_names(t):
    # No cross-reference table, no catalog: pypdf gives up, the raw names still speak.
    for hidden in (b"<< /S /JavaScript >>", b"<< /S /Launch >>", b"<< /J#53 (x) >>", b"<< /Type /EmbeddedFile >>"):
        content = b"%PDF-1.7\n1 0 obj " + hidden + b" endobj\n%%EOF\n"
        assert refused(t, content, "发票.pdf") in (
            "PDF中含有脚本或自动执行的动作，不能作为凭证上传，请打印为普通PDF后再上传",
            "PDF中含有附件或多媒体内容，不能作为凭证上传，请打印为普通PDF后再上传")
    assert "PDF文件已损坏，无法读取" in refused(t, b"%PDF-1.7\n" + bytes(range(256)) * 8, "发票.pdf")


def xref_bomb(entries):
    """A few kilobytes whose cross-reference stream declares millions of entries: pypdf alone
    spends half a minute on two million."""
    head = (b"%PDF-1.7\n1 0 obj <</Type/Catalog/Pages 2 0 R>> endobj\n"
            b"2 0 obj <</Type/Pages/Kids[]/Count 0>> endobj\n")
    table = zlib.compress((b"\x01\x00\x00\x00\x09\x00") * entries, 9)
    return (head + b"3 0 obj <</Type/XRef/Size %d/W[1 4 1]/Root 1 0 R/Filter/FlateDecode/Length %d>> stream\n"
            % (entries, len(table)) + table + b"\nendstream endobj\nstartxref\n%d\n%%%%EOF\n" % len(head))


def test_a_pdf_that_would_keep_the_worker_busy_is_refused_in_bounded_time(t, monkeypatch):
    monkeypatch.setattr(voucher_content, "PDF_CHECK_SECONDS", 2)
    bomb = xref_bomb(2_000_000)
    assert len(bomb) < 30_000
    started = time.monotonic()
    assert "PDF文件结构过于复杂" in refused(t, bomb, "发票.pdf")
    assert time.monotonic() - started < 4


def test_encrypted_and_overlong_pdfs_are_refused(t):
    assert "PDF文件已加密" in refused(t, pdf_bytes(lambda writer: writer.encrypt("secret")), "发票.pdf")
    assert "PDF超过200页" in refused(t, pdf_bytes(pages=201), "发票.pdf")
    assert add(t, pdf_bytes(pages=200), "发票.pdf").content_type == "application/pdf"


# ---- file names ------------------------------------------------------------------------------

@pytest.mark.parametrize("uploaded,kept", [
    ("发票\r\n2024.png", "发票 2024.png"),
    ("\u202egnp.exe.png", "gnp.exe.png"),  # shown as "exe.png" reversed without the override
    ("发\u2066票\u2069\u2028.png", "发票.png"),
    ("C:\\Users\\会计\\发票.JPG", "发票.JPG"),
    ("../../etc/发票.png", "发票.png"),
    ("e\u0301.png", "\u00e9.png"),  # NFC
    ("\x00\x1b\x7f\x85.png", "凭证.png"),
    ("  .  .pdf", "凭证.pdf"),
    ("发" * 300 + ".jpeg", "发" * 95 + ".jpeg"),
    ("\u202e", ""),
])
def test_file_names_are_cleaned(uploaded, kept):
    assert clean_filename(uploaded) == kept


def test_a_name_with_line_breaks_is_stored_cleaned(t):
    # Nothing but invisible characters: no extension left to match the content.
    assert "文件内容与扩展名不符" in refused(t, image_bytes("PNG"), "\u202e\u200b")
    assert add(t, image_bytes("PNG"), "发票\r\nSet-Cookie: x=1\u202e.png").original_name == "发票 Set-Cookie: x=1.png"


# ---- through HTTP ----------------------------------------------------------------------------

def _post(client, url, data):
    token = csrf_token(client, "/")
    return client.post(url, data={**data, "csrf_token": token}, headers={"X-CSRFToken": token},
                       content_type="multipart/form-data")


def assert_safe(response):
    assert response.status_code in (200, 304), response.status_code
    policy = response.headers["Content-Security-Policy"]
    assert "sandbox" in policy and "default-src 'none'" in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "private, no-store"
    disposition = response.headers.get("Content-Disposition", "")
    assert not re.search(r"[\r\n\x00\u2028\u2029\u202a-\u202e\u2066-\u2069]", disposition)
    return response


@pytest.fixture
def merchant(app, tree, login):
    with app.app_context():
        record = file_record(db.session.get(Account, tree.gz_merchant.id), app.instance_path, submit=False)
        db.session.commit()
        merchant = login(app.test_client(), tree.gz_merchant.phone)
        merchant.record_id = record.id
    return merchant


def upload(merchant, content, name):
    return _post(merchant, f"/records/{merchant.record_id}/vouchers",
                 {"kind": "invoice", "file": (io.BytesIO(content), name)})


def upload_encoded_name(merchant, content, name):
    """As a hand-made request does it: the name percent-encoded (RFC 2231), so that Werkzeug
    decodes CR/LF into it; a browser's own form never sends them."""
    token = csrf_token(merchant, "/")
    body = b"".join((
        b"--B\r\nContent-Disposition: form-data; name=\"kind\"\r\n\r\ninvoice\r\n",
        b"--B\r\nContent-Disposition: form-data; name=\"file\"; filename*=UTF-8''", quote(name).encode(),
        b"\r\nContent-Type: image/png\r\n\r\n", content, b"\r\n--B--\r\n"))
    return merchant.post(f"/records/{merchant.record_id}/vouchers", data=body, headers={"X-CSRFToken": token},
                         content_type="multipart/form-data; boundary=B")


def voucher_named(app, name):
    with app.app_context():
        return db.session.scalar(select(Voucher.id).where(Voucher.original_name == name))


def test_every_voucher_response_is_sandboxed(app, merchant):
    assert upload(merchant, image_bytes("JPEG"), "照片.jpg").status_code == 200
    assert upload(merchant, PDF, "合同.pdf").status_code == 200
    base = f"/records/{merchant.record_id}/vouchers/"
    photo, pdf = base + str(voucher_named(app, "照片.jpg")), base + str(voucher_named(app, "合同.pdf"))

    inline = assert_safe(merchant.get(photo))
    assert inline.headers["Content-Disposition"].startswith("inline")
    assert inline.headers["Content-Type"] == "image/jpeg"
    assert assert_safe(merchant.get(photo + "?download=1")).headers["Content-Disposition"].startswith("attachment")
    again = assert_safe(merchant.get(photo, headers={"If-None-Match": inline.headers["ETag"]}))
    assert again.status_code == 304
    # A PDF is an attachment even when asked for inline, and served as uploaded.
    for url in (pdf, pdf + "?download=1"):
        served = assert_safe(merchant.get(url))
        assert served.headers["Content-Disposition"].startswith("attachment")
        assert "%E5%90%88%E5%90%8C.pdf" in served.headers["Content-Disposition"]  # 合同.pdf
        assert served.headers["Content-Type"] == "application/pdf" and served.data == PDF

    # The pages link to a PDF as a download, and show pictures inline.
    page = merchant.get(f"/records/{merchant.record_id}").get_data(as_text=True)
    assert re.search(rf'<a[^>]*href="{re.escape(pdf)}"[^>]*download', page)
    assert f'<img src="{photo}"' in page
    assert not re.search(r"<(iframe|embed|object)\b", page)


def test_refused_uploads_through_http(app, merchant):
    with_script = upload(merchant, pdf_bytes(open_action(action("/JavaScript", JS=TextStringObject("x")))), "发票.pdf")
    assert with_script.status_code == 422 and ACTIVE_PDF in with_script.get_data(as_text=True)
    bomb = upload(merchant, png_declaring(20000, 20000), "发票.png")
    assert bomb.status_code == 422 and HUGE in bomb.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Voucher)) == 1  # the factory's


def test_a_polyglot_is_served_as_a_plain_picture(app, merchant):
    assert upload(merchant, image_bytes("JPEG") + b"<html><script>alert(1)</script>", "发票2.jpg").status_code == 200
    served = assert_safe(merchant.get(f"/records/{merchant.record_id}/vouchers/{voucher_named(app, '发票2.jpg')}"))
    assert b"<script" not in served.data and served.headers["Content-Type"] == "image/jpeg"


def test_a_name_with_line_breaks_is_served_safely(app, merchant):
    uploaded = upload_encoded_name(merchant, image_bytes("PNG"), "发票\r\n\u202egnp.exe.png")
    assert uploaded.status_code == 200
    assert "发票 gnp.exe.png" in uploaded.get_data(as_text=True)
    voucher_id = voucher_named(app, "发票 gnp.exe.png")
    url = f"/records/{merchant.record_id}/vouchers/{voucher_id}"
    assert_safe(merchant.get(url))
    assert_safe(merchant.get(url + "?download=1"))

    # A row written before names were cleaned is served and shown cleaned.
    with app.app_context():
        db.session.execute(update(Voucher).where(Voucher.id == voucher_id)
                           .values(original_name="发\r\n票\u202e<img src=x onerror=alert(1)>.png"))
        db.session.commit()
    for served in (merchant.get(url), merchant.get(url + "?download=1")):
        disposition = assert_safe(served).headers["Content-Disposition"]
        assert "UTF-8''%E5%8F%91%20%E7%A5%A8%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E.png" in disposition
    page = merchant.get(f"/records/{merchant.record_id}").get_data(as_text=True)
    assert "发 票&lt;img src=x onerror=alert(1)&gt;.png" in page
    assert "\u202e" not in page and "<img src=x" not in page


def test_a_truncated_picture_is_refused_after_weasyprint_is_imported(t):
    """WeasyPrint turns on Pillow's LOAD_TRUNCATED_IMAGES for the whole process as it is imported;
    the workers import it as they start. A voucher must still decode in full."""
    import weasyprint  # noqa: F401
    from PIL import ImageFile

    assert ImageFile.LOAD_TRUNCATED_IMAGES  # what WeasyPrint did
    photo = io.BytesIO()
    Image.effect_noise((200, 200), 80).convert("RGB").save(photo, "JPEG")
    assert BROKEN_IMAGE in refused(t, photo.getvalue()[: len(photo.getvalue()) // 2], "发票.jpg")
    assert ImageFile.LOAD_TRUNCATED_IMAGES  # and what it did is left as it was
