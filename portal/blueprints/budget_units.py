"""Budget units of a finance department: their list and its Excel export, importing them from
Excel (upload, preview, 确认导入), and their renaming, closing and merging (更名、撤销、合并)
with the history of those changes."""
import io
import re
from datetime import timedelta
from pathlib import Path

from flask import Blueprint, abort, current_app, flash, redirect, request, send_file, session, url_for
from flask_login import current_user
from sqlalchemy import or_, select
from werkzeug.datastructures import FileStorage

from portal import spreadsheet, staged_uploads
from portal.accounts.models import Account, Unit
from portal.accounts.rules import does_business, is_admin
from portal.blueprints.common import apply_errors, export_or_queue, load_or_404, render_page, requires
from portal.blueprints.errors import render_failure
from portal.errors import PermissionDenied, ValidationFailed
from portal.extensions import db, htmx
from portal.params import BadValue, parse_id
from portal.forms.budget_units import CloseForm, ImportForm, MergeForm, RenameForm
from portal.reservations import scope, unit_changes, unit_import, unit_import_files, unit_list
from portal.reservations.models import Reservation, UnitChange

bp = Blueprint("budget_units", __name__, url_prefix="/budget-units")

#: what a staged upload of this import is for (portal/staged_uploads.py): the file waiting for
#: 确认导入, and the annotated file of a failed upload, which the session names
PURPOSE, ERRORS = "budget_units", "budget_units_errors"
ERROR_FILE_KEY = "unit_import_error_file"
#: how long the annotated file of a failed upload can be downloaded again
ERROR_FILE_TTL = timedelta(hours=24)
PLAN_PATTERN = re.compile(r"[0-9a-f]{32}")


def _load_unit(unit_id):
    """A budget unit this admin may change (admins pass the route's check; this decides)."""
    return load_or_404(Unit, unit_id, unit_changes.may_change_unit)


# --- the finance department's page: its list, its export ---------------------------------------

def _index(form=None, status=200, block="content", **extra):
    finance = current_user.unit
    filters = unit_list.UnitFilters.from_args(request.args)
    every = unit_changes.units_under(finance)
    changes = unit_changes.history([u.id for u, _ in every])
    return render_page("budget_units/index.html", block, form=form or ImportForm(), finance=finance,
                       units=unit_list.listed_units(finance, filters, every), filters=filters,
                       status_labels=unit_list.STATUS_LABELS, changes=changes, **_change_context(changes),
                       **extra), status


def _change_context(changes):
    by_ids = {c.by_id for c in changes}
    actors = {a.id: a for a in db.session.scalars(select(Account).where(Account.id.in_(by_ids)))} if by_ids else {}
    return {"actors": actors, "change_labels": unit_changes.CHANGE_LABELS}


@bp.get("/")
@requires(unit_import.may_import)
def index():
    return _index(block="unit_list" if htmx else "content")


@bp.get("/export")
@requires(unit_import.may_import)
def export():
    """The list under the page's filters, as an Excel workbook (by the worker when large)."""
    return export_or_queue("budget_units.list", unit_list.unit_list_export(current_user, request.args),
                           request.args)


@bp.get("/template")
@requires(unit_import.may_import)
def template():
    return send_file(io.BytesIO(unit_import_files.template_workbook()), as_attachment=True,
                     download_name="预算单位导入模板.xlsx", mimetype=unit_import.XLSX_MIMETYPE)


# --- the import: upload and preview, then 确认导入 or 取消 -----------------------------------------

def _limits():
    return spreadsheet.Limits(max_rows=current_app.config["IMPORT_MAX_ROWS"])


def _panel(status=200, **extra):
    """The import's panel: inside the page for HTMX, else the whole page."""
    return _index(status=status, block="import_panel" if htmx else "content", **extra)


@bp.post("/import")
@requires(unit_import.may_import)
def import_units():
    """Check every row of the uploaded file and show what importing it will do; a good file
    waits, staged, for 确认导入. A file with wrong rows is given back annotated; nothing waits."""
    form = ImportForm()
    if not form.validate_on_submit():
        abort(400)
    upload = form.file.data if isinstance(form.file.data, FileStorage) else None
    data = upload.read(unit_import.MAX_BYTES + 1) if upload else b""
    filename = (upload.filename if upload else "") or "预算单位.xlsx"
    try:
        result = unit_import.preview_budget_units(current_user, data, _limits())
    except PermissionDenied:
        db.session.commit()  # keep the audit row of the refusal
        abort(403)
    except ValidationFailed as failed:
        db.session.rollback()
        apply_errors(form, failed.errors)
        return _panel(422, form=form)
    if not result.ok:
        _keep_error_file(unit_import_files.error_workbook(data, result.errors, _limits()), filename)
        db.session.commit()
        return _panel(422, result=result, filename=filename)
    token = staged_uploads.stage(current_user, PURPOSE, filename, data)
    db.session.commit()
    return _panel(preview=result, token=token, filename=filename)


def _staged(token):
    """(filename, bytes) this account staged for this import, or None: expired, consumed, or
    not this account's (all answered alike, by _gone)."""
    try:
        return staged_uploads.read(current_user, PURPOSE, token)
    except staged_uploads.StagedUploadMissing:
        return None


def _gone():
    db.session.rollback()
    return render_failure(404, "导入预览已失效", staged_uploads.StagedUploadMissing.message)


def _drop(purpose, token):
    """Consume a staged file in this transaction; False if another request took it first."""
    try:
        staged_uploads.consume(current_user, purpose, token)
    except staged_uploads.StagedUploadMissing:
        return False
    return True


@bp.post("/import/<string(length=43):token>/confirm")
@requires(unit_import.may_import)
def confirm_import(token):
    """确认导入: the staged file is checked again against the units as they are now, and every
    unit is opened, or none. The preview's plan travels with the form: if the units changed so
    that the file would now do something else, the new preview is shown for another look."""
    staged = _staged(token)
    if staged is None:
        return _gone()
    plan = request.form.get("plan", "")
    if not PLAN_PATTERN.fullmatch(plan):
        abort(400)  # the preview's form always carries its plan
    filename, data = staged
    if not _drop(PURPOSE, token):  # of two confirms at once, one goes on
        return _gone()
    result = unit_import.import_budget_units(current_user, data, _limits(), expected_plan=plan)
    if result.plan_changed:
        db.session.rollback()  # the file waits for the person's second look
        return _index(status=409, preview=result, token=token, filename=filename)
    if not result.ok:
        db.session.rollback()
        _drop(PURPOSE, token)  # the file waits no more: its errors are in the annotated file
        _keep_error_file(unit_import_files.error_workbook(data, result.errors, _limits()), filename)
        db.session.commit()
        return _index(status=422, result=result, filename=filename, changed_since_preview=True)
    _forget_error_file()
    db.session.commit()
    return _index(result=result, filename=filename)


@bp.post("/import/<string(length=43):token>/cancel")
@requires(unit_import.may_import)
def cancel_import(token):
    staged = _staged(token)
    if staged is None or not _drop(PURPOSE, token):
        return _gone()
    db.session.commit()
    flash(f"已取消导入“{staged.filename}”，没有开通任何单位", "info")
    return redirect(url_for("budget_units.index"))


def _forget_error_file():
    previous = session.pop(ERROR_FILE_KEY, None)
    if isinstance(previous, str):
        _drop(ERRORS, previous)


def _keep_error_file(content, filename):
    """Keep the annotated file for this account (a staged upload of its own purpose, on the shared
    files location, which any app server answers from); the session names it, and the previous
    one goes. The caller commits."""
    _forget_error_file()
    stem = Path(filename.replace("\\", "/")).stem[:60] or "预算单位"
    session[ERROR_FILE_KEY] = staged_uploads.stage(current_user, ERRORS, f"{stem}-错误原因.xlsx", content,
                                                   ttl=ERROR_FILE_TTL)


@bp.get("/import/errors")
@requires(unit_import.may_import)
def error_file():
    """The person's own last failed file with its 错误原因 column; nobody else's."""
    try:
        kept = staged_uploads.read(current_user, ERRORS, session.get(ERROR_FILE_KEY))
    except staged_uploads.StagedUploadMissing:
        abort(404)
    return send_file(io.BytesIO(kept.data), as_attachment=True, download_name=kept.filename,
                     mimetype=unit_import.XLSX_MIMETYPE)


# --- one unit: rename, close, merge -------------------------------------------------------------

def _merge_form(unit):
    form = MergeForm(prefix="merge")
    form.into.choices = [("", "请选择")] + [(str(u.id), u.name) for u in unit_changes.merge_targets(unit)]
    return form


def _unit_page(unit, status=200, rename=None, close=None, merge=None):
    changes = db.session.scalars(select(UnitChange).where(
        or_(UnitChange.unit_id == unit.id, UnitChange.merged_into_id == unit.id))
        .order_by(UnitChange.at.desc(), UnitChange.id.desc())).all()
    filings = db.session.scalars(select(Reservation).where(Reservation.unit_id == unit.id)
                                 .order_by(Reservation.year.desc())).all()
    subordinates = db.session.scalars(select(Unit).where(Unit.parent_id == unit.id).order_by(Unit.id)).all()
    return render_page(
        "budget_units/unit.html", "content", unit=unit, finance=scope.finance_of(unit),
        rename_form=rename or RenameForm(prefix="rename"), close_form=close or CloseForm(prefix="close"),
        merge_form=merge or _merge_form(unit), changes=changes, filings=filings, subordinates=subordinates,
        may_import=unit_import.may_import(current_user), **_change_context(changes)), status


@bp.get("/<int:unit_id>")
@requires(lambda account: is_admin(account) and does_business(account))
def unit(unit_id):
    return _unit_page(_load_unit(unit_id))


def _change(unit, form_name, form, operation, message):
    if not form.validate_on_submit():
        abort(400)
    try:
        operation()
    except PermissionDenied:
        db.session.commit()
        abort(403)
    except ValidationFailed as failed:
        db.session.rollback()
        apply_errors(form, failed.errors)
        return _unit_page(unit, 422, **{form_name: form})
    db.session.commit()
    flash(message(), "success")
    return redirect(url_for("budget_units.unit", unit_id=unit.id))


@bp.post("/<int:unit_id>/rename")
@requires(lambda account: is_admin(account) and does_business(account))
def rename(unit_id):
    unit = _load_unit(unit_id)
    old_name = unit.name
    form = RenameForm(prefix="rename")
    return _change(unit, "rename", form,
                   lambda: unit_changes.rename_unit(current_user, unit, form.new_name.data, form.reason.data),
                   lambda: f"已将“{old_name}”更名为“{unit.name}”，原名称和历年填报记录均已保留")


@bp.post("/<int:unit_id>/close")
@requires(lambda account: is_admin(account) and does_business(account))
def close(unit_id):
    unit = _load_unit(unit_id)
    form = CloseForm(prefix="close")
    return _change(unit, "close", form,
                   lambda: unit_changes.close_unit(current_user, unit, form.reason.data),
                   lambda: f"已撤销“{unit.name}”，其账号已停用，历年填报记录保留")


@bp.post("/<int:unit_id>/merge")
@requires(lambda account: is_admin(account) and does_business(account))
def merge(unit_id):
    unit = _load_unit(unit_id)
    form = _merge_form(unit)
    try:
        into_id = parse_id(form.into.data)
    except BadValue:
        into_id = None
    into = db.session.get(Unit, into_id) if into_id else None
    return _change(unit, "merge", form,
                   lambda: unit_changes.merge_unit(current_user, unit, into, form.reason.data),
                   lambda: f"已将“{unit.name}”并入“{into.name}”，其账号已停用，历年填报记录保留")
