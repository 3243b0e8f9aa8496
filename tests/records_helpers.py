"""Helpers for purchase-record tests: valid form data and small real files."""
import io

from PIL import Image
from pypdf import PdfWriter
from sqlalchemy import select

from portal.extensions import db
from portal.records.models import ReportingPeriod
from portal.reference.models import DictionaryEntry


def _image(image_format):
    out = io.BytesIO()
    Image.new("RGB", (8, 6), (230, 120, 40)).save(out, image_format)
    return out.getvalue()


def _pdf():
    writer, out = PdfWriter(), io.BytesIO()
    writer.add_blank_page(width=595, height=842)
    writer.write(out)
    return out.getvalue()


# Real files: vouchers are decoded and re-encoded (images) or parsed (PDFs) on upload. Bytes
# appended after them (PNG + b"unique") still decode and still make a different upload hash.
PNG = _image("PNG")
JPEG = _image("JPEG")
PDF = _pdf()


def record_form(**overrides):
    """Form data for a complete record: 罗城 county of 河池, Guangxi, rice."""
    period = db.session.scalar(select(ReportingPeriod).order_by(ReportingPeriod.id))
    category = db.session.scalar(select(DictionaryEntry).where(DictionaryEntry.kind == "category",
                                                               DictionaryEntry.name == "粮食"))
    measure = db.session.scalar(select(DictionaryEntry).where(DictionaryEntry.kind == "measure_unit",
                                                              DictionaryEntry.name == "吨"))
    data = {
        "period_id": str(period.id), "direct_from_origin": "1",
        "origin_province_code": "450000", "origin_city_code": "451200", "origin_county_code": "451225",
        "category_id": str(category.id), "measure_unit_id": str(measure.id),
        "product_name": "大米", "quantity": "1.5", "amount": "12800.50",
    }
    data.update(overrides)
    return data
