"""Helpers for purchase-record tests: valid form data and small real files."""
from sqlalchemy import select

from portal.extensions import db
from portal.records.models import ReportingPeriod
from portal.reference.models import DictionaryEntry

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 64
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64


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
