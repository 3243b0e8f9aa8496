"""Budget units of a finance department: importing them from Excel, and their renaming,
closing and merging (更名、撤销、合并) with the history of those changes."""
import io
import secrets
import time
from pathlib import Path

from flask import Blueprint, abort, current_app, flash, redirect, send_file, session, url_for
from flask_login import current_user
from sqlalchemy import or_, select

from portal import spreadsheet, storage
from portal.accounts.models import Account, Unit
from portal.accounts.rules import does_business, is_admin
from portal.blueprints.common import apply_errors, load_or_404, render_page, requires
from portal.errors import PermissionDenied, ValidationFailed
from portal.extensions import db
from portal.params import BadValue, parse_id
from portal.forms.budget_units import CloseForm, ImportForm, MergeForm, RenameForm
from portal.reservations import scope, unit_changes, unit_import
from portal.reservations.models import Reservation, UnitChange

bp = Blueprint("budget_units", __name__, url_prefix="/budget-units")

#: the session key naming the last failed import's annotated file
ERROR_FILE_KEY = "unit_import_error_file"
#: annotated files older than this are removed at the next failed import
ERROR_FILE_MAX_AGE = 24 * 3600


def _load_unit(unit_id):
    """A budget unit this admin may change (admins pass the route's check; this decides)."""
    return load_or_404(Unit, unit_id, unit_changes.may_change_unit)


# --- the finance department's page and the import -----------------------------------------------

def _index(form, status=200, **extra):
    finance = current_user.unit
    units = unit_changes.units_under(finance)
    changes = unit_changes.history([u.id for u, _ in units])
    return render_page("budget_units/index.html", "content", form=form, finance=finance, units=units,
                       changes=changes, **_change_context(changes), **extra), status


def _change_context(changes):
    by_ids = {c.by_id for c in changes}
    actors = {a.id: a for a in db.session.scalars(select(Account).where(Account.id.in_(by_ids)))} if by_ids else {}
    return {"actors": actors, "change_labels": unit_changes.CHANGE_LABELS}


@bp.get("/")
@requires(unit_import.may_import)
def index():
    return _index(ImportForm())


@bp.get("/template")
@requires(unit_import.may_import)
def template():
    return send_file(io.BytesIO(unit_import.template_workbook()), as_attachment=True,
                     download_name="预算单位导入模板.xlsx", mimetype=unit_import.XLSX_MIMETYPE)


@bp.post("/import")
@requires(unit_import.may_import)
def import_units():
    form = ImportForm()
    if not form.validate_on_submit():
        abort(400)
    upload = form.file.data
    data = upload.read(unit_import.MAX_BYTES + 1) if upload else b""
    filename = (upload.filename if upload else "") or "预算单位.xlsx"
    limits = spreadsheet.Limits(max_rows=current_app.config["IMPORT_MAX_ROWS"])
    try:
        result = unit_import.import_budget_units(current_user, data, limits)
        if not result.ok:
            db.session.rollback()
            _keep_error_file(unit_import.error_workbook(data, result.errors, limits), filename)
            return _index(ImportForm(), 422, result=result, filename=filename)
    except PermissionDenied:
        db.session.commit()  # keep the audit row of the refusal
        abort(403)
    except ValidationFailed as failed:
        db.session.rollback()
        apply_errors(form, failed.errors)
        return _index(form, 422)
    db.session.commit()
    session.pop(ERROR_FILE_KEY, None)
    return _index(ImportForm(), result=result, filename=filename)


def _error_dir():
    # Written by one request, fetched by the next, which another app server may answer.
    path = storage.files_dir() / "unit_import_errors"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _keep_error_file(content, filename):
    """Keep the annotated file under the instance folder; the session names it for this account."""
    folder = _error_dir()
    cutoff = time.time() - ERROR_FILE_MAX_AGE
    for old in folder.glob("*.xlsx"):
        if old.stat().st_mtime < cutoff:
            old.unlink(missing_ok=True)
    previous = session.get(ERROR_FILE_KEY)
    if previous:
        (folder / previous["stored"]).unlink(missing_ok=True)
    stored = f"{current_user.id}-{secrets.token_urlsafe(16)}.xlsx"
    (folder / stored).write_bytes(content)
    stem = Path(filename.replace("\\", "/")).stem[:60] or "预算单位"
    session[ERROR_FILE_KEY] = {"stored": stored, "name": f"{stem}-错误原因.xlsx"}


@bp.get("/import/errors")
@requires(unit_import.may_import)
def error_file():
    """The person's own last failed file with its 错误原因 column; nobody else's."""
    kept = session.get(ERROR_FILE_KEY)
    if not kept or not kept["stored"].startswith(f"{current_user.id}-"):
        abort(404)
    path = _error_dir() / Path(kept["stored"]).name
    if not path.is_file():
        abort(404)
    return send_file(io.BytesIO(path.read_bytes()), as_attachment=True, download_name=kept["name"],
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
