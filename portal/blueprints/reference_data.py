"""基础数据: the province office's category and unit lists, and key counties. The reporting
periods, on the same tabs, are the records area's (portal/blueprints/periods.py)."""
from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_login import current_user

from portal.blueprints.common import (
    apply_errors, export_or_queue, fragment, load_or_404, render_page, requires, with_toast,
)
from portal.errors import ValidationFailed
from portal.extensions import db, htmx
from portal.forms.reference import EntryForm
from portal.reference import admin, exports
from portal.reference.models import DictionaryEntry, Region

bp = Blueprint("reference_data", __name__, url_prefix="/reference-data")


def posted_flag(name):
    """The on/off value a toggle button posts; anything else is a forged request."""
    value = request.form.get(name)
    if value not in ("1", "0"):
        abort(400)
    return value == "1"


def answer_change(message, back_to, render, level="success"):
    """After a change: a plain request is sent back to the page with the message; an HTMX
    request gets the updated fragment (render()) and the message as a toast."""
    if not htmx:
        flash(message, level)
        return redirect(back_to)
    return with_toast(render(), message, level)


@bp.get("/")
@requires(admin.may_edit_reference)
def index():
    return redirect(url_for("reference_data.periods"))


@bp.get("/periods")
@requires(admin.may_edit_reference)
def periods():
    """The reporting periods moved to the records area (portal/records/periods.py); the old
    address, still the menu's way into 基础数据, sends there with the year a link asks for."""
    return redirect(url_for("periods.index", year=request.args.get("year")), code=301)


def _lists_page(forms):
    return render_page("reference_data/lists.html", "lists_body", forms=forms, entries=admin.dictionary_entries(),
                       kinds=admin.DICTIONARY_KINDS)


def _entry_forms():
    return {kind: EntryForm(formdata=None, prefix=kind, data={"kind": kind}) for kind in admin.DICTIONARY_KINDS}


@bp.get("/lists")
@requires(admin.may_edit_reference)
def lists():
    return _lists_page(_entry_forms())


@bp.get("/lists/export")
@requires(admin.may_edit_reference)
def lists_export():
    return export_or_queue("reference.lists", exports.lists_export(current_user, request.args), request.args)


@bp.post("/lists/<kind>")
@requires(admin.may_edit_reference)
def add_entry(kind):
    if kind not in admin.DICTIONARY_KINDS:
        abort(404)
    forms = _entry_forms()
    form = forms[kind] = EntryForm(prefix=kind)
    if not form.validate_on_submit():
        abort(400)
    try:
        entry = admin.add_entry(current_user, kind=kind, name=form.name.data)
    except ValidationFailed as failed:
        db.session.rollback()
        apply_errors(form, failed.errors)
        return _lists_page(forms), 422
    db.session.commit()
    return answer_change(f"已添加{admin.DICTIONARY_KINDS[kind]}“{entry.name}”", url_for("reference_data.lists"),
                         lambda: _lists_page(_entry_forms()))


@bp.post("/lists/entries/<int:entry_id>/active")
@requires(admin.may_edit_reference)
def set_entry_active(entry_id):
    entry = load_or_404(DictionaryEntry, entry_id)
    back_to = url_for("reference_data.lists")
    try:
        admin.set_entry_active(current_user, entry, posted_flag("active"))
    except ValidationFailed as failed:
        db.session.rollback()
        entry = load_or_404(DictionaryEntry, entry_id)
        return answer_change(failed.errors["entry"], back_to,
                             lambda: fragment("reference_data/_entry_row.html", "row", entry=entry), "warning")
    db.session.commit()
    return answer_change(f"“{entry.name}”已{'启用' if entry.active else '停用'}", back_to,
                         lambda: fragment("reference_data/_entry_row.html", "row", entry=entry))


def _county_table(province):
    province, _ = exports.known_province(province)
    return render_page("reference_data/counties.html", "county_table", provinces=admin.provinces(),
                       province=province, counties=admin.counties_of(province or None))


@bp.get("/counties")
@requires(admin.may_edit_reference)
def counties():
    return _county_table(request.args.get("province", ""))


@bp.get("/counties/export")
@requires(admin.may_edit_reference)
def counties_export():
    return export_or_queue("reference.counties", exports.counties_export(current_user, request.args), request.args)


@bp.post("/counties/<code>/key")
@requires(admin.may_edit_reference)
def set_key_county(code):
    county = load_or_404(Region, code)
    try:
        admin.set_key_county(current_user, county, posted_flag("key"))
    except ValidationFailed:
        abort(404)  # only counties are listed; anything else is a forged request
    db.session.commit()
    # The table of the province filter the page shows, with its counts, comes back.
    province = request.form.get("province", "")
    return answer_change(f"{county.name}已{'标记为' if county.key_county else '取消'}国家乡村振兴重点帮扶县",
                         url_for("reference_data.counties", province=province or None), lambda: _county_table(province))
