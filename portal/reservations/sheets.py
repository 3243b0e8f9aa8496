"""PDF confirmation sheets of the reserved-share form (预留份额确认单): one A4 page made at
submission and again at each confirmation, kept in the file store (portal/storage.py) beside
the row that records its SHA-256, size, stage and the figures it printed. A sheet is never overwritten: every call makes a
new file and a new row. A random verification code printed on the sheet (and in its QR
code) leads to /verify/<code>, which shows that sheet's record.

WeasyPrint (drawn through portal/pdf.py, which the printed purchase record shares) takes about
a second to import and cn2an a third of one, so they are imported on the first sheet of a
process, or ahead of time by warm_up(), not with the app.
"""
import hashlib
import json
import secrets
from decimal import ROUND_HALF_UP, Decimal

from flask import current_app
from sqlalchemy import select

from portal import pdf, storage
from portal.accounts.models import mask_phone
from portal.clock import format_date_long, format_money, to_china, utcnow
from portal.extensions import db
from portal.reservations.models import ConfirmationSheet
from portal.reservations.states import ATTESTATION, SHEET_STAGES

FEN = Decimal("0.01")
#: no 0/O, 1/I/L: a code read off paper and typed back in stays unambiguous
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 12
TEMPLATE = "reservations/sheet_pdf.html"
STYLESHEET = "reservations/sheet_pdf.css"

#: every figure a sheet prints, in the order the verification page lists them
PRINTED_LABELS = {
    "title": "标题",
    "unit_name": "预算单位名称",
    "credit_code": "统一社会信用代码",
    "year": "年度",
    "canteen_label": "食堂类型",
    "remark": "备注",
    "canteen_total": "年度食堂食材采购总额（元）",
    "canteen_total_upper": "年度食堂食材采购总额（大写）",
    "ratio": "预留比例",
    "reserved_amount": "预留份额（元）",
    "reserved_amount_upper": "预留份额（大写）",
    "union_need": "是否有工会采购需求",
    "union_total": "工会采购总额（元）",
    "union_total_upper": "工会采购总额（大写）",
    "union_ratio": "工会采购预留比例",
    "union_expected": "通过832平台预计采购金额（元）",
    "union_expected_upper": "通过832平台预计采购金额（大写）",
    "union_remark": "工会采购备注",
    "contact_name": "填报预留份额联系人",
    "contact_mobile": "联系人手机",
    "contact_landline": "联系人固定电话",
    "union_contact_name": "工会采购预留份额联系人",
    "union_contact_mobile": "工会联系人手机",
    "union_contact_landline": "工会联系人固定电话",
    "attestation": "承诺",
    "submitted_at": "提交时间",
    "status": "填报状态",
    "superior_unit": "上级预算单位",
    "confirmed_by": "上级预算单位确认人",
    "confirmed_at": "上级预算单位确认时间",
    "finance_unit": "财政部门",
    "finalized_by": "财政部门确认人",
    "finalized_at": "财政部门确认时间",
    "stage": "确认单类型",
    "verification_code": "验证码",
    "verify_url": "核验网址",
    "generated_at": "生成时间",
}


def warm_up():
    """Import WeasyPrint (with the process's FontConfiguration), cn2an and segno: a worker calls
    this at start, so that its first sheet does not pay the imports. Returns (HTML, FontConfiguration)."""
    import cn2an  # noqa: F401
    import segno  # noqa: F401
    return pdf.warm_up()


# -- figures as printed -------------------------------------------------------------------

def quantize_fen(value):
    return Decimal(value).quantize(FEN, rounding=ROUND_HALF_UP)


def money_upper(value):
    """人民币大写 of an amount, to the fen, half up (cn2an cuts extra decimals instead of
    rounding, and wants no thousands separators): 200000 → 贰拾万元整, 0 → 零元整."""
    if value is None:
        return ""
    import cn2an

    return cn2an.an2cn(f"{quantize_fen(value):f}", "rmb")


def money_text(value):
    return format_money(quantize_fen(value)) if value is not None else ""


def percent_text(value):
    return f"{quantize_fen(value):f}%" if value is not None else ""


def moment_text(value):
    """2024年1月30日 14:05, in China time."""
    return f"{format_date_long(value)} {to_china(value):%H:%M}" if value else ""


def sheet_title(year):
    return f"{year}年度预算单位采购脱贫地区农副产品预留份额确认单"


def printed_values(reservation, stage, code, generated_at, base_url=""):
    """Every figure the sheet prints, as the text it prints (empty when there is none)."""
    r = reservation
    unit = r.unit
    union = r.union_need is True
    confirmed = stage in ("confirmed", "final") and r.confirmed_at is not None
    finalized = stage == "final" and r.finalized_at is not None
    superior_name = r.superior.name if r.superior is not None else ""
    if confirmed and not superior_name and r.confirmed_by is not None:
        superior_name = r.confirmed_by.unit.name
    return {
        "title": sheet_title(r.year),
        "unit_name": unit.name,
        "credit_code": unit.credit_code or "",
        "year": str(r.year),
        "canteen_label": r.canteen_label,
        "remark": r.remark or "",
        "canteen_total": money_text(r.canteen_total),
        "canteen_total_upper": money_upper(r.canteen_total),
        "ratio": percent_text(r.ratio),
        "reserved_amount": money_text(r.reserved_amount),
        "reserved_amount_upper": money_upper(r.reserved_amount),
        "union_need": {True: "是", False: "否"}.get(r.union_need, ""),
        "union_total": money_text(r.union_total) if union else "",
        "union_total_upper": money_upper(r.union_total) if union else "",
        "union_ratio": percent_text(r.union_ratio) if union else "",
        "union_expected": money_text(r.union_expected) if union else "",
        "union_expected_upper": money_upper(r.union_expected) if union else "",
        "union_remark": r.union_remark or "",
        "contact_name": r.contact_name or "",
        "contact_mobile": r.contact_mobile or "",
        "contact_landline": r.contact_landline or "",
        "union_contact_name": r.union_contact_name or "",
        "union_contact_mobile": r.union_contact_mobile or "",
        "union_contact_landline": r.union_contact_landline or "",
        "attestation": ATTESTATION,
        "submitted_at": moment_text(r.submitted_at),
        "status": r.status_label,
        "superior_unit": superior_name,
        "confirmed_by": r.confirmed_by.name if confirmed and r.confirmed_by is not None else "",
        "confirmed_at": moment_text(r.confirmed_at) if confirmed else "",
        "finance_unit": r.finance.name if r.finance is not None else "",
        "finalized_by": r.finalized_by.name if finalized and r.finalized_by is not None else "",
        "finalized_at": moment_text(r.finalized_at) if finalized else "",
        "stage": SHEET_STAGES[stage],
        "verification_code": code,
        "verify_url": verify_url(base_url, code) if base_url else "",
        "generated_at": moment_text(generated_at),
    }


def display_code(code):
    """ABCD-EFGH-JKMN: the code in groups of four, as printed."""
    return "-".join(code[i:i + 4] for i in range(0, len(code), 4))


def normalize_code(text):
    """What a person typed (any case, with or without the hyphens) back to the stored code."""
    return "".join(ch for ch in (text or "").upper() if ch not in "- ")


def verify_url(base_url, code):
    return f"{base_url.rstrip('/')}/verify/{code}"


def qr_data_uri(url):
    """The QR code as a PNG of one pixel per module, which the stylesheet scales up without
    smoothing: WeasyPrint draws an SVG path of a few hundred squares ten times slower."""
    import segno

    return segno.make(url, error="m", micro=False).png_data_uri(scale=1, border=0)


# -- storage ------------------------------------------------------------------------------

def sheet_store(instance_path=None):
    """The sheets' file store: FILES_DIR/sheets when FILES_DIR is set, else the instance folder's."""
    return storage.store("sheets", instance_path)


def sheet_root(instance_path=None):
    return sheet_store(instance_path).root


def sheet_path(instance_path, sheet):
    return sheet_store(instance_path).path_of(sheet.stored_name)


def _new_code():
    while True:
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        taken = db.session.scalar(select(ConfirmationSheet.id).where(ConfirmationSheet.verification_code == code))
        if taken is None:
            return code


def render_pdf(printed, *, verify_link):
    jinja = current_app.jinja_env
    html = jinja.get_template(TEMPLATE).render(p=printed, code_display=display_code(printed["verification_code"]),
                                               verify_link=verify_link, qr=qr_data_uri(verify_link))
    stylesheet = pdf.stylesheet(jinja.get_template(STYLESHEET).render(font_url=pdf.font_url()))
    return pdf.write_pdf(html, stylesheets=[stylesheet])


def sheet_values(reservation, stage, base_url, now=None):
    """What a sheet of this stage prints, read from the form now, with its new verification code."""
    if stage not in SHEET_STAGES:
        raise ValueError(f"unknown sheet stage {stage!r}")
    now = (now or utcnow()).replace(microsecond=0)
    return printed_values(reservation, stage, _new_code(), now, base_url), now


def make_sheet(reservation, stage, actor, *, instance_path, base_url):
    """Render, store and record one confirmation sheet; the caller commits."""
    printed, now = sheet_values(reservation, stage, base_url)
    return store_sheet(reservation, stage, actor.id, printed, now, instance_path=instance_path)


def store_sheet(reservation, stage, actor_id, printed, created_at, *, instance_path):
    """Render the printed values to PDF, store the file and record the sheet; the caller commits
    (the file is removed again if that commit fails)."""
    content = render_pdf(printed, verify_link=printed["verify_url"])
    files = sheet_store(instance_path)
    stored_name = files.save(str(to_china(created_at).year), ".pdf", content)
    files.discard_unless_committed(db.session, stored_name)  # the file lives only with its row
    sheet = ConfirmationSheet(reservation=reservation, stage=stage, verification_code=printed["verification_code"],
                              stored_name=stored_name, sha256=hashlib.sha256(content).hexdigest(),
                              size=len(content), created_at=created_at, created_by_id=actor_id,
                              printed_values=json.dumps(printed, ensure_ascii=False))
    db.session.add(sheet)
    db.session.flush()
    return sheet


def newest_sheet_id(reservation_id):
    return db.session.scalar(select(ConfirmationSheet.id).where(ConfirmationSheet.reservation_id == reservation_id)
                             .order_by(ConfirmationSheet.id.desc()).limit(1))


#: the rows of the public verification page: (key, key of its 人民币大写 or None)
PUBLIC_FIGURES = (
    ("canteen_label", None), ("remark", None), ("canteen_total", "canteen_total_upper"), ("ratio", None),
    ("reserved_amount", "reserved_amount_upper"), ("union_need", None), ("union_total", "union_total_upper"),
    ("union_ratio", None), ("union_expected", "union_expected_upper"), ("union_remark", None),
)


def public_rows(printed):
    """The figures of a sheet as printed, for the public verification page: label, value and
    the amount in capitals; contacts appear by name with the mobile masked (138****8000)."""
    rows = [{"label": PRINTED_LABELS[key], "value": printed.get(key, ""),
             "upper": printed.get(upper, "") if upper else ""} for key, upper in PUBLIC_FIGURES]
    for name_key, mobile_key in (("contact_name", "contact_mobile"), ("union_contact_name", "union_contact_mobile")):
        parts = (printed.get(name_key, ""), mask_phone(printed.get(mobile_key, "")))
        value = " ".join(part for part in parts if part)
        rows.append({"label": PRINTED_LABELS[name_key], "value": value, "upper": ""})
    return rows


def download_name(sheet):
    printed = sheet.printed
    unit = "".join(ch for ch in printed.get("unit_name", "") if ch not in '\\/:*?"<>|\r\n\t').strip() or "单位"
    return f"预留份额确认单-{unit}-{printed.get('year', sheet.reservation.year)}-{sheet.stage_label}.pdf"
