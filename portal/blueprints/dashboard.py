"""/dashboard: charts with their tables, each figure a link to the list behind it. The offices see
approved purchases and what waits at each level; finance departments see the reserved share."""
from datetime import date

from flask import Blueprint, url_for
from flask_login import current_user
from sqlalchemy import select

from portal.accounts.kinds import UnitKind
from portal.blueprints.common import render_page, requires, year_arg
from portal.extensions import db
from portal.oversight import dashboard
from portal.oversight.scope import is_overseer
from portal.reference.models import GuangdongCity
from portal.reservations.policy import china_today
from portal.reservations.queries import current_year

bp = Blueprint("dashboard", __name__)


def is_office(account):
    return account.is_active and account.unit.kind in (UnitKind.PROVINCE_OFFICE, UnitKind.CITY_OFFICE)


def sees_dashboard(account):
    return is_office(account) or is_overseer(account)


def _chart(kind, rows, *, series, links):
    """What static/dashboard.js draws: labels, one or more series of numbers, a link per label."""
    return {"kind": kind, "labels": [r["label"] if isinstance(r, dict) else r.label for r in rows],
            "series": series, "links": links}


def _records_chart(kind, rows, name="审核通过金额（元）"):
    return _chart(kind, rows, series=[{"name": name, "values": [float(r.amount) for r in rows]}],
                  links=[url_for("reports.records", **r.link) for r in rows])


@bp.get("/dashboard")
@requires(sees_dashboard)
def index():
    if is_overseer(current_user):
        return _reserved_share()
    city_scope = current_user.unit.city_code if current_user.unit.kind == UnitKind.CITY_OFFICE else None
    year = year_arg() or china_today().year
    figures = dashboard.monitoring(year, city_scope)
    charts = {name: _records_chart("bar", figures[name]) for name in ("by_city", "by_province", "key_counties")}
    charts["months"] = _records_chart("line", figures["months"])
    charts["by_channel"] = _records_chart("pie", figures["by_channel"])
    city_name = (db.session.scalar(select(GuangdongCity.name).where(GuangdongCity.code == city_scope))
                 if city_scope else None)
    return render_page("dashboard/monitoring.html", "content", year=year, figures=figures, charts=charts,
                       waiting=dashboard.waiting(city_scope), city_name=city_name)


def _reserved_share():
    year = year_arg() or current_year() or china_today().year
    today = min(china_today(), date(year + 1, 3, 31))
    figures = dashboard.reserved_share(current_user.unit_id, year, today)
    levels = figures["levels"]
    charts = {
        "levels": _chart("stacked", [{"label": t.label} for t in levels], series=[
            {"name": "财政已确认", "values": [t.final for t in levels]},
            {"name": "待财政确认", "values": [t.confirmed - t.final for t in levels]},
            {"name": "待主管确认", "values": [t.filed - t.confirmed for t in levels]},
            {"name": "未填报", "values": [t.units - t.filed for t in levels]},
        ], links=[url_for("oversight.finance", finance_id=t.key, year=year) for t in levels]),
        "months": _chart("line", figures["months"], series=[
            {"name": "食堂食材预留份额", "values": [float(figures["total"].reserved_canteen)] * len(figures["months"])},
            {"name": "食堂食材832已采购", "values": [float(m["canteen"]) for m in figures["months"]]},
            {"name": "工会采购832已采购", "values": [float(m["union"]) for m in figures["months"]]},
        ], links=[url_for("oversight.finance", finance_id=current_user.unit_id, year=year, day=m["day"].isoformat())
                  for m in figures["months"]]),
        "by_city": _chart("bar", [{"label": t.label} for t in figures["by_city"]], series=[
            {"name": "食堂食材完成率（%）", "values": [float(t.canteen_completion or 0) for t in figures["by_city"]]},
        ], links=[url_for("oversight.finance", finance_id=figures["finance_by_city"][t.key], year=year)
                  if t.key in figures["finance_by_city"] else url_for("oversight.index", year=year)
                  for t in figures["by_city"]]),
    }
    return render_page("dashboard/reserved.html", "content", year=year, today=today, figures=figures, charts=charts)
