"""Reminders (催报/催办) from finance departments and the province and city offices: choose whom,
see who will receive what, send, and the record of every reminder the unit sent."""
from flask import Blueprint, abort, request
from flask_login import current_user

from portal import reminders
from portal.blueprints.common import export_or_queue, render_page, requires, with_toast
from portal.extensions import db
from portal.forms.oversight import ReminderForm
from portal.oversight import exports, reminding
from portal.params import BadValue, parse_date, parse_year
from portal.reservations.policy import china_today
from portal.reservations.queries import current_year

bp = Blueprint("reminders", __name__, url_prefix="/oversight/reminders")


def _form():
    form = ReminderForm()
    kinds = reminding.kinds_for(current_user)
    form.kind.choices = list(kinds.items())
    if not form.is_submitted():
        form.kind.data = next(iter(kinds))
        form.year.data = str(current_year() or china_today().year)
        form.day.data = china_today().isoformat()
    return form


def _year_and_day(form):
    try:
        year, day = parse_year(form.year.data), parse_date(form.day.data)
    except BadValue:
        abort(400)
    if year is None or day is None:
        abort(400)
    return year, day


def _sent():
    return db.session.scalars(exports.reminders_sent_query(current_user).limit(200)).all()


def _page(form, status=200, **extra):
    return render_page("oversight/reminders.html", "content", form=form, sent=_sent(),
                       daily_cap=reminders.DAILY_CAP, **extra), status


@bp.get("/")
@requires(reminding.may_remind)
def index():
    return _page(_form())


def _targets(form):
    year, day = _year_and_day(form)
    return reminding.targets(current_user, form.kind.data, year=year, day=day, threshold=form.threshold_value)


@bp.post("/preview")
@requires(reminding.may_remind)
def preview():
    form = _form()
    if not form.validate_on_submit():
        return _page(form, 422)
    planned = reminders.plan(_targets(form))
    return render_page("oversight/reminders.html", "preview", form=form, planned=planned,
                       sending=[t for t in planned if t.skipped is None], sent=_sent(), daily_cap=reminders.DAILY_CAP)


@bp.post("/send")
@requires(reminding.may_remind)
def send():
    form = _form()
    if not form.validate_on_submit():
        return _page(form, 422)
    # the list is drawn again: units may have filed since the preview
    kept = reminders.send(current_user, _targets(form))
    db.session.commit()
    response, _ = _page(form, just_sent=len(kept))
    return with_toast(response, f"已向{len(kept)}个单位发送提醒短信")



@bp.get("/export")
@requires(reminding.may_remind)
def export():
    return export_or_queue("oversight.reminders", exports.reminders_export(current_user, request.args), request.args)
