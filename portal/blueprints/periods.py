"""填报期: the province office opens and closes the reporting periods of purchase records.

A page of the records area (portal/records/periods.py) at /records/periods, shown on the tabs of
基础数据 beside the lists and counties; the old address /reference-data/periods sends here."""
from flask import Blueprint, abort, request, url_for
from flask_login import current_user

from portal.blueprints.common import (
    apply_errors, export_or_queue, fragment, load_or_404, render_page, requires, year_arg,
)
from portal.blueprints.reference_data import answer_change, posted_flag
from portal.errors import ValidationFailed
from portal.extensions import db
from portal.forms.reference import PeriodForm
from portal.records import exports, periods
from portal.records.models import ReportingPeriod

bp = Blueprint("periods", __name__, url_prefix="/records/periods")


def _page(form):
    return render_page("records/periods.html", "periods_body", form=form, rows=periods.periods_with_totals(),
                       missing_year=periods.missing_current_period())


@bp.get("")
@requires(periods.may_manage_periods)
def index():
    year = year_arg()
    form = PeriodForm(data={"year": year, "fill_type": "current"} if year else None)
    return _page(form)


@bp.post("")
@requires(periods.may_manage_periods)
def add_period():
    form = PeriodForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        period = periods.add_period(current_user, year=form.year.data, fill_type=form.fill_type.data,
                                    name=form.name.data)
    except ValidationFailed as failed:
        db.session.rollback()
        apply_errors(form, failed.errors)
        return _page(form), 422
    db.session.commit()
    return answer_change(f"已开设填报期“{period.name}”，填报单位现在可以选择", url_for("periods.index"),
                         lambda: _page(PeriodForm(formdata=None)))


@bp.post("/<int:period_id>/open")
@requires(periods.may_manage_periods)
def set_period_open(period_id):
    period = load_or_404(ReportingPeriod, period_id)
    periods.set_period_open(current_user, period, posted_flag("open"))
    db.session.commit()
    row = next(row for row in periods.periods_with_totals() if row[0].id == period.id)
    return answer_change(f"“{period.name}”已{'开放' if period.open else '关闭'}", url_for("periods.index"),
                         lambda: fragment("records/_period_row.html", "row", row=row))


@bp.get("/export")
@requires(periods.may_manage_periods)
def export():
    return export_or_queue("records.periods", exports.periods_export(current_user, request.args), request.args)
