"""通报: the units and departments below a completion threshold on a chosen day, as a page, an
Excel file and a printable PDF annex, with a one-click SMS to the units on it."""
import io
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from flask import Blueprint, current_app, request, send_file
from flask_login import current_user

from portal import audit
from portal.blueprints.common import render_page, requires
from portal.clock import to_china, utcnow
from portal.excel import xlsx_workbook_download
from portal.extensions import db
from portal.oversight import notice as notices
from portal.oversight.scope import is_overseer
from portal.params import BadValue, Reader, parse_date, parse_decimal, parse_year
from portal.reservations.policy import china_today
from portal.reservations.queries import current_year

bp = Blueprint("notices", __name__, url_prefix="/oversight/notice")

DEFAULT_THRESHOLD = Decimal("50")


def _threshold(text, **_):
    value = parse_decimal(text, places=2, digits=5, label="完成率")
    if value is not None and not 0 < value <= 100:
        raise BadValue("完成率应在0到100之间")
    return value


@dataclass
class NoticeFilters:
    year: int
    day: date
    threshold: Decimal
    measure: str
    errors: dict = field(default_factory=dict)

    @classmethod
    def from_args(cls, args):
        read = Reader(args)
        year = read.get("year", parse_year)
        day = read.get("day", parse_date, label="统计日期")
        threshold = read.get("threshold", _threshold)
        measure = args.get("measure") if args.get("measure") in notices.MEASURES else "canteen"
        return cls(year=year or current_year() or china_today().year, day=day or china_today(),
                   threshold=DEFAULT_THRESHOLD if threshold is None else threshold, measure=measure,
                   errors=read.errors)

    def as_args(self):
        return {"year": self.year, "day": self.day.isoformat(), "threshold": f"{self.threshold:f}",
                "measure": self.measure}


def _notice():
    filters = NoticeFilters.from_args(request.args)
    return filters, notices.build_notice(current_user.unit_id, year=filters.year, day=filters.day,
                                         threshold=filters.threshold, measure=filters.measure)


@bp.get("/")
@requires(is_overseer)
def index():
    filters, notice = _notice()
    return render_page("oversight/notice.html", "results", filters=filters, notice=notice,
                       measures=notices.MEASURES, filter_errors=filters.errors)


@bp.get("/export")
@requires(is_overseer)
def export():
    filters, notice = _notice()
    audit.record("export", detail={"what": "notice", **filters.as_args()})
    db.session.commit()
    return xlsx_workbook_download(notice.title, notices.excel_sheets(notice),
                                  max_rows=current_app.config["EXPORT_MAX_ROWS"])


@bp.get("/pdf")
@requires(is_overseer)
def pdf():
    filters, notice = _notice()
    content = notices.render_pdf(notice, printed_at=to_china(utcnow()))
    audit.record("export", detail={"what": "notice_pdf", **filters.as_args()})
    db.session.commit()
    return send_file(io.BytesIO(content), mimetype="application/pdf", as_attachment=True,
                     download_name=f"{notice.title}-{filters.day.isoformat()}.pdf")
