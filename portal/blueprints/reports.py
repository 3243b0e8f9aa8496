"""Approved totals: the province view, and the same for a city office on its own city."""
from flask import Blueprint, abort, request
from flask_login import current_user
from sqlalchemy import select

from portal.accounts.kinds import UnitKind
from portal.blueprints.common import id_arg, keyset_page, render_page, requires
from portal.extensions import db
from portal.records.models import PurchaseRecord, ReportingPeriod
from portal.records import approved, exports
from portal.records.states import CHANNEL_LABELS
from portal.records.totals import TotalFilters, province_view
from portal.reference.models import DictionaryEntry, GuangdongCity, Region

bp = Blueprint("reports", __name__, url_prefix="/reports")


def reads_totals(account):
    return account.unit.kind in (UnitKind.PROVINCE_OFFICE, UnitKind.CITY_OFFICE)


def _fixed_city():
    """A city office sees its own city whatever the URL says."""
    return current_user.unit.city_code if current_user.unit.kind == UnitKind.CITY_OFFICE else None


@bp.get("/")
@requires(reads_totals)
def index():
    fixed_city = _fixed_city()
    filters = TotalFilters.from_args(request.args, fixed_city=fixed_city)
    choices = {
        "periods": db.session.scalars(select(ReportingPeriod).order_by(ReportingPeriod.year.desc())).all(),
        "cities": [] if fixed_city else db.session.scalars(select(GuangdongCity).order_by(GuangdongCity.code)).all(),
        "categories": db.session.scalars(select(DictionaryEntry).where(DictionaryEntry.kind == "category")
                                         .order_by(DictionaryEntry.position)).all(),
        "provinces": db.session.scalars(select(Region).where(Region.level == "province")).all(),
    }
    return render_page("reports/index.html", "tables", view=province_view(filters), filters=filters,
                       fixed_city=fixed_city, channels=CHANNEL_LABELS, filter_errors=filters.errors,
                       **choices), 422 if filters.errors else 200


@bp.get("/export")
@requires(reads_totals)
def export():
    """The page's tables, with the same filters, as an Excel workbook."""
    fixed_city = _fixed_city()
    filters = TotalFilters.from_args(request.args, fixed_city=fixed_city)
    if filters.errors:
        abort(400)  # the page's export link carries only filters the page could read
    title = f"{current_user.unit.name}审核通过购销记录汇总" if fixed_city else "全省审核通过购销记录汇总"
    return exports.totals_xlsx(province_view(filters), title, filters.describe(), with_cities=not fixed_city)


@bp.get("/records")
@requires(reads_totals)
def records():
    """The approved records behind a figure of the dashboard or of the totals."""
    filters = approved.ApprovedFilters.from_args(request.args)
    fixed_city = _fixed_city()
    if fixed_city:
        filters.city_scope = fixed_city
    rows, next_key = keyset_page(approved.approved_query(current_user, filters), PurchaseRecord.id,
                                 id_arg("before"), descending=True)
    return render_page("reports/records.html", "rows", rows=rows, next_key=next_key, filters=filters,
                       filter_errors=filters.errors, channels=CHANNEL_LABELS), 422 if filters.errors else 200
