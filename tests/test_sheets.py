"""PDF confirmation sheets (DESIGN section 4): what the sheet prints, that its font is embedded,
that each sheet is a new file with its SHA-256, who may download it, and the public
verification page its code leads to.

The PDF text checks read the file with poppler-utils (pdftotext, pdffonts, pdfinfo); without
them they are skipped, except on CI (CI=true), where a missing tool is a failure."""
import hashlib
import json
import os
import re
import shutil
import subprocess
from datetime import datetime
from decimal import Decimal
from types import SimpleNamespace

import pytest

from portal.accounts.models import Account
from portal.extensions import db
from portal.reservations import sheets
from portal.reservations.models import ConfirmationSheet, Reservation
from tests.factories import SUBMITTED_AT
from tests.factories import make_reservation as make_form

BASE_URL = "http://portal.test"
#: the seed's sentence, written out here and not imported: a changed constant in the code must
#: fail this test, not change what it expects
ATTESTATION = "我单位本次填报的内容真实有效，无瞒报、漏报、错报情况"
#: 2024-01-30 06:05 UTC is 2024年1月30日 14:05 in China


def _on_ci():
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def poppler(tool):
    path = shutil.which(tool) or (f"/usr/bin/{tool}" if os.path.exists(f"/usr/bin/{tool}") else None)
    if path is None:
        reason = f"{tool} is missing (Debian package poppler-utils): PDF text checks skipped"
        if _on_ci():
            pytest.fail(reason + "; CI is set, so this is a failure", pytrace=False)
        pytest.skip(reason)
    return path


def run_tool(tool, *args):
    return subprocess.run([poppler(tool), *args], check=True, capture_output=True, text=True).stdout


def pdf_text(path):
    return run_tool("pdftotext", "-enc", "UTF-8", str(path), "-")


def squeezed(text):
    return re.sub(r"\s+", "", text)


def new_sheet(app, reservation, stage="submitted", actor_id=None):
    actor = db.session.get(Account, actor_id or reservation.unit.accounts[0].id)
    return sheets.make_sheet(reservation, stage, actor, instance_path=app.instance_path, base_url=BASE_URL)


@pytest.fixture
def made(app, tree):
    """One form and its first sheet, committed; plain data that outlives the session."""
    with app.app_context():
        reservation = make_form(tree)
        sheet = new_sheet(app, reservation)
        db.session.commit()
        return SimpleNamespace(reservation_id=reservation.id, sheet_id=sheet.id, code=sheet.verification_code,
                               path=sheets.sheet_path(app.instance_path, sheet), sha256=sheet.sha256,
                               size=sheet.size, stored_name=sheet.stored_name)


# -- amounts in capitals ----------------------------------------------------------------

@pytest.mark.parametrize("amount, upper", [
    ("200000.00", "贰拾万元整"),
    ("1800.05", "壹仟捌佰元零伍分"),
    ("1088888.57", "壹佰零捌万捌仟捌佰捌拾捌元伍角柒分"),
    ("1800.045", "壹仟捌佰元零伍分"),       # half up to the fen, not cut
    ("0", "零元整"),
    ("0.00", "零元整"),
])
def test_money_upper(amount, upper):
    assert sheets.money_upper(Decimal(amount)) == upper


def test_money_upper_and_text_of_nothing_are_empty():
    assert sheets.money_upper(None) == "" and sheets.money_text(None) == "" and sheets.percent_text(None) == ""
    assert sheets.money_text(Decimal("1234567.5")) == "1,234,567.50"
    assert sheets.percent_text(Decimal("30")) == "30.00%"


def test_codes_read_back_as_typed():
    assert sheets.display_code("ABCDEFGHJKMN") == "ABCD-EFGH-JKMN"
    assert sheets.normalize_code(" abcd-efgh-jkmn ") == "ABCDEFGHJKMN"


# -- the sheet ----------------------------------------------------------------------------

def test_sheet_row_file_and_printed_values(app, made):
    with app.app_context():
        sheet = db.session.get(ConfirmationSheet, made.sheet_id)
        assert sheet.stage == "submitted" and sheet.stage_label == "填报提交"
        assert re.fullmatch(f"[{sheets.CODE_ALPHABET}]{{12}}", sheet.verification_code)
        assert re.fullmatch(r"\d{4}/[0-9a-f]{32}\.pdf", sheet.stored_name)
        path = sheets.sheet_path(app.instance_path, sheet)
        assert path.parent.parent == sheets.sheet_root(app.instance_path)
        content = path.read_bytes()
        assert content.startswith(b"%PDF-")
        assert sheet.sha256 == hashlib.sha256(content).hexdigest()
        assert sheet.size == len(content) and sheet.size < 250 * 1024
        assert sheet.created_by.unit.name == "省实验中学"
        printed = json.loads(sheet.printed_values)
        assert set(printed) == set(sheets.PRINTED_LABELS)
        assert printed["unit_name"] == "省实验中学" and printed["year"] == "2024"
        assert printed["canteen_label"] == "本单位自有的食堂"
        assert printed["canteen_total"] == "1,000,000.00" and printed["canteen_total_upper"] == "壹佰万元整"
        assert printed["ratio"] == "30.00%"
        assert printed["reserved_amount"] == "300,000.00" and printed["reserved_amount_upper"] == "叁拾万元整"
        assert printed["union_need"] == "是"
        assert printed["union_total"] == "200,000.00" and printed["union_total_upper"] == "贰拾万元整"
        assert printed["union_ratio"] == "20.00%"
        assert printed["union_expected"] == "40,000.00" and printed["union_expected_upper"] == "肆万元整"
        assert printed["submitted_at"] == "2024年1月30日 14:05"
        assert printed["status"] == "待上级预算单位确认"
        assert printed["superior_unit"] == "省教育厅" and printed["finance_unit"] == "省财政厅"
        assert printed["confirmed_by"] == "" and printed["finalized_at"] == ""
        assert printed["verification_code"] == sheet.verification_code
        assert printed["verify_url"] == f"{BASE_URL}/verify/{sheet.verification_code}"
        assert printed["attestation"] == ATTESTATION


def test_pdf_prints_every_figure_in_words_and_figures(app, made):
    text = pdf_text(made.path)
    flat = squeezed(text)
    for expected in ("2024年度预算单位采购脱贫地区农副产品预留份额确认单", "省实验中学", "本单位自有的食堂",
                     "1,000,000.00", "壹佰万元整", "30.00%", "300,000.00", "叁拾万元整",
                     "200,000.00", "贰拾万元整", "20.00%", "40,000.00", "肆万元整",
                     "李晓明", "13912345678", "020-83133000", "王芳",
                     ATTESTATION, "2024年1月30日14:05", "待上级预算单位确认", "填报提交", "省教育厅",
                     "经办人", "负责人", "单位盖章", sheets.display_code(made.code),
                     f"{BASE_URL}/verify/{made.code}"):
        assert expected in flat, expected
    assert "Pages:           1" in run_tool("pdfinfo", str(made.path))


def test_pdf_embeds_the_chinese_font(app, made):
    output = run_tool("pdffonts", str(made.path))
    rows = [line.split() for line in output.splitlines()[2:] if line.strip()]
    assert rows, output
    cjk = [row for row in rows if "CJK" in row[0]]
    assert cjk, output
    # columns: name, type words..., encoding, emb, sub, uni, object, id: emb is the fifth from the end
    assert all(row[-5] == "yes" for row in rows), output
    assert len(rows) == 1, "one font family only, to keep the file small:\n" + output
    assert "Noto-Sans-CJK-SC-Sheet" in rows[0][0], "the GB 2312 cut, not the whole collection:\n" + output
    assert made.size < 150_000


def test_a_character_outside_gb2312_still_prints(app, tree):
    """The sheet's own font holds GB 2312 only; a rarer character in a name comes from the
    system's full Noto Sans CJK SC, and both are embedded."""
    with app.app_context():
        reservation = make_form(tree)
        reservation.unit.name = "省堃珺实验中学"
        reservation.contact_name = "王喆"
        sheet = new_sheet(app, reservation)
        db.session.commit()
        path = sheets.sheet_path(app.instance_path, sheet)
    flat = squeezed(pdf_text(path))
    assert "省堃珺实验中学" in flat and "王喆" in flat
    fonts = [line.split() for line in run_tool("pdffonts", str(path)).splitlines()[2:] if line.strip()]
    assert all(row[-5] == "yes" for row in fonts) and any("Sheet" not in row[0] for row in fonts)


def test_the_qr_code_is_an_image_of_one_pixel_per_module(app, made):
    rows = [line.split() for line in run_tool("pdfimages", "-list", str(made.path)).splitlines()[2:] if line.strip()]
    assert len(rows) == 1
    width, height = int(rows[0][3]), int(rows[0][4])
    # a version-3 QR code or larger, square, with no border drawn into the image
    assert width == height and 29 <= width <= 57


def test_each_call_makes_a_new_file_and_row(app, made):
    with app.app_context():
        reservation = db.session.get(Reservation, made.reservation_id)
        second = new_sheet(app, reservation)
        db.session.commit()
        rows = db.session.query(ConfirmationSheet).filter_by(reservation_id=made.reservation_id).all()
        assert len(rows) == 2
        assert second.verification_code != made.code and second.stored_name != made.stored_name
        second_path = sheets.sheet_path(app.instance_path, second)
        assert second_path.exists() and made.path.exists()
        assert hashlib.sha256(made.path.read_bytes()).hexdigest() == made.sha256  # the first is untouched


def test_a_taken_file_name_is_never_overwritten(app, made, monkeypatch):
    taken = made.stored_name.split("/")[1].removesuffix(".pdf")
    real = sheets.secrets.token_hex
    names = iter([taken, "f" * 32])
    monkeypatch.setattr(sheets.secrets, "token_hex", lambda n: next(names) if n == 16 else real(n))
    with app.app_context():
        reservation = db.session.get(Reservation, made.reservation_id)
        second = new_sheet(app, reservation)
        db.session.commit()
        assert second.stored_name.endswith("f" * 32 + ".pdf")
    assert hashlib.sha256(made.path.read_bytes()).hexdigest() == made.sha256
    assert not list(made.path.parent.glob(".*.part"))


@pytest.mark.parametrize("ending", ["rollback", "remove"])
def test_a_sheet_whose_transaction_fails_leaves_no_file(app, made, ending):
    with app.app_context():
        reservation = db.session.get(Reservation, made.reservation_id)
        path = sheets.sheet_path(app.instance_path, new_sheet(app, reservation))
        assert path.exists()
        getattr(db.session, ending)()
        assert not path.exists()
        assert db.session.query(ConfirmationSheet).count() == 1
    assert made.path.exists()


def test_confirmations_print_only_from_their_stage(app, tree):
    with app.app_context():
        superior = db.session.get(Account, tree.superior_budget.id)
        finance = db.session.get(Account, tree.province_finance.id)
        confirmed_at, finalized_at = datetime(2024, 2, 1, 2, 0), datetime(2024, 3, 1, 8, 30)
        reservation = make_form(tree, status="final", confirmed_at=confirmed_at, confirmed_by_id=superior.id,
                                finalized_at=finalized_at, finalized_by_id=finance.id, batch_id=None)
        submitted = sheets.printed_values(reservation, "submitted", "X" * 12, SUBMITTED_AT)
        confirmed = sheets.printed_values(reservation, "confirmed", "X" * 12, SUBMITTED_AT)
        final = sheets.printed_values(reservation, "final", "X" * 12, SUBMITTED_AT)
        assert submitted["confirmed_by"] == "" and submitted["finalized_by"] == ""
        assert confirmed["confirmed_by"] == superior.name and confirmed["confirmed_at"] == "2024年2月1日 10:00"
        assert confirmed["finalized_by"] == ""
        assert final["finalized_by"] == finance.name and final["finalized_at"] == "2024年3月1日 16:30"
        assert final["finance_unit"] == "省财政厅" and final["stage"] == "财政部门确认"
        with pytest.raises(ValueError):
            new_sheet(app, reservation, stage="approved")


def test_a_form_without_canteen_or_union_prints_dashes_not_zeroes(app, tree):
    with app.app_context():
        reservation = make_form(tree, canteen_type="none", remark="无食堂", canteen_total=None, ratio=None,
                                reserved_amount=None, union_need=False, union_total=None, union_ratio=None,
                                union_expected=None, union_remark="本单位无工会采购计划")
        printed = sheets.printed_values(reservation, "submitted", "X" * 12, SUBMITTED_AT)
        assert printed["canteen_label"] == "无食堂" and printed["remark"] == "无食堂"
        assert printed["canteen_total"] == printed["reserved_amount_upper"] == printed["union_total"] == ""
        assert printed["union_need"] == "否" and printed["union_remark"] == "本单位无工会采购计划"


# -- download -------------------------------------------------------------------------------

def test_the_unit_and_those_above_it_download_the_pdf(app, made, tree, login):
    for role in ("budget_unit", "superior_budget", "province_finance"):
        client = login(app.test_client(), getattr(tree, role).phone)
        response = client.get(f"/reservations/sheets/{made.sheet_id}")
        assert response.status_code == 200, role
        assert response.mimetype == "application/pdf"
        assert response.data == made.path.read_bytes()
        disposition = response.headers["Content-Disposition"]
        assert disposition.startswith("attachment")
        assert "filename*=UTF-8''" in disposition
        from urllib.parse import quote
        assert quote("预留份额确认单-省实验中学-2024-填报提交.pdf") in disposition
        assert "no-store" in response.headers["Cache-Control"]


def test_another_unit_gets_404(app, made, tree, login):
    client = login(app.test_client(), tree.gz_budget.phone)
    assert client.get(f"/reservations/sheets/{made.sheet_id}").status_code == 404
    assert client.get(f"/reservations/sheets/{made.sheet_id + 999}").status_code == 404


def test_download_needs_a_login(app, made):
    response = app.test_client().get(f"/reservations/sheets/{made.sheet_id}")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


# -- verification ---------------------------------------------------------------------------

def test_verify_is_public_and_shows_the_sheet_as_printed(app, made):
    client = app.test_client()
    response = client.get(f"/verify/{made.code}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    for expected in ("省实验中学", "2024年度", "填报提交", "300,000.00", "叁拾万元整", "40,000.00", "30.00%",
                     made.sha256, "2024年1月30日 14:05", "此确认单为该单位2024年度预留份额的最新确认单"):
        assert expected in page, expected
    assert "此确认单已有更新版本" not in page
    assert "139****5678" in page and "13912345678" not in page  # mobiles masked on the public page
    # typed back from paper: lower case, with the hyphens
    assert client.get(f"/verify/{sheets.display_code(made.code).lower()}").status_code == 200


def test_verify_says_when_a_later_sheet_exists(app, made, tree):
    with app.app_context():
        reservation = db.session.get(Reservation, made.reservation_id)
        superior = db.session.get(Account, tree.superior_budget.id)
        reservation.status, reservation.confirmed_by_id = "confirmed", superior.id
        reservation.confirmed_at = SUBMITTED_AT
        later = new_sheet(app, reservation, "confirmed", actor_id=superior.id)
        db.session.commit()
        later_code = later.verification_code
    client = app.test_client()
    old_page = client.get(f"/verify/{made.code}").get_data(as_text=True)
    assert "此确认单已有更新版本" in old_page and "上级预算单位确认" in old_page
    new_page = client.get(f"/verify/{later_code}").get_data(as_text=True)
    assert "此确认单已有更新版本" not in new_page and "待财政部门确认" in new_page


def test_verify_unknown_code_is_404(app, made):
    client = app.test_client()
    response = client.get("/verify/ABCDEFGHJKMN")
    assert response.status_code == 404
    assert "未找到该验证码对应的确认单" in response.get_data(as_text=True)
    assert client.get("/verify/" + "A" * 40).status_code == 404
