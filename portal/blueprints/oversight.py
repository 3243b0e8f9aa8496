"""Oversight of the reserved share: completion against the 832 platform, rolled up across finance
levels with a drill-down to the unit, and the 832 statistics imports that feed it."""
import io
from pathlib import Path

from flask import Blueprint, abort, current_app, redirect, request, send_file, url_for
from flask_login import current_user
from sqlalchemy import select

from portal import reminders, staged_uploads
from portal.accounts.kinds import UnitKind
from portal.blueprints.common import apply_errors, export_or_queue, id_arg, render_page, requires, year_arg
from portal.errors import PermissionDenied, ValidationFailed
from portal.extensions import db
from portal.forms.oversight import ConfirmImportForm, FulfilmentUploadForm
from portal.oversight import completion, exports, fulfilment_import, rollup
from portal.oversight.models import FulfilmentImport, FulfilmentLine
from portal.oversight.scope import OrgMap, is_overseer
from portal.oversight.workbook_template import template_workbook
from portal.params import BadValue, parse_date
from portal.reference.models import GuangdongCity
from portal.reservations.models import Reservation
from portal.reservations.policy import china_today
from portal.reservations.queries import current_year
from portal.reservations.states import STATUS_LABELS

bp = Blueprint("oversight", __name__, url_prefix="/oversight")

STAGED = "fulfilment"
ERRORS = "fulfilment_errors"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _day_arg():
    """The `day` figures are read on: today unless the query names another; malformed is a 400."""
    try:
        return parse_date(request.args.get("day")) or china_today()
    except BadValue:
        abort(400)


def _finance_in_scope(org, finance_id):
    node = org.nodes.get(finance_id)
    if node is None or node.kind != UnitKind.FINANCE or finance_id not in org.finance_subtree(current_user.unit_id):
        abort(404)
    return node


def _trail(org, node):
    """The finance departments from the account's own down to `node`, for the breadcrumb."""
    trail = [node]
    while trail[0].id != current_user.unit_id and trail[0].parent_id in org.nodes:
        trail.insert(0, org.nodes[trail[0].parent_id])
    return trail


# --- completion, rolled up -----------------------------------------------------------------------

@bp.get("/")
@requires(is_overseer)
def index():
    return _overview(current_user.unit_id)


@bp.get("/finance/<int:finance_id>")
@requires(is_overseer)
def finance(finance_id):
    return _overview(finance_id)


def _overview(finance_id):
    """The roll-up is summed in SQL (oversight.rollup): the page reads a few rows per finance
    department, city, department and form state, and the fifty units it shows, however many
    units the subtree holds."""
    org = OrgMap(under=finance_id, units=False)
    node = _finance_in_scope(org, finance_id)
    year, day = year_arg() or current_year() or china_today().year, _day_arg()
    # below the province, read the subtree's rows only; the province's are all of them
    whole = node.parent_id not in org.nodes
    cells = rollup.cells(org.finance_subtree(finance_id), finance_id, year, day, whole=whole)
    # by department head, the units that have not filed with the rest (a form's superior is only
    # known once it is filed, and is the unit's direct superior, not its department's head)
    departments = rollup.departments(cells, finance_id)
    units, next_after = rollup.own_page(finance_id, year, day, id_arg("after"), current_app.config["PAGE_SIZE"],
                                        whole=whole)
    return render_page("oversight/overview.html", "figures", node=node, trail=_trail(org, node), year=year, day=day,
                       total=rollup.total(cells), levels=rollup.by_finance(org, finance_id, cells),
                       departments=departments, units=units, own_count=sum(t.units for t in departments),
                       next_after=next_after,
                       cities=_by_city(cells) if not node.city_code else [], status_labels=STATUS_LABELS)


def _by_city(cells):
    names = dict(db.session.execute(select(GuangdongCity.code, GuangdongCity.name)).all())
    rows = rollup.group(cells, key=lambda cell: cell.city_code or "", label=lambda code: names.get(code, "省级"))
    return sorted(rows, key=lambda t: t.key)


@bp.get("/units/<int:unit_id>")
@requires(is_overseer)
def unit(unit_id):
    org = OrgMap(units=False)
    org.read_units([unit_id])
    if not org.oversees(current_user.unit_id, unit_id):
        abort(404)
    year, day = year_arg() or current_year() or china_today().year, _day_arg()
    node = org.nodes[unit_id]
    [figures] = completion.unit_figures([node], year, day)
    series = db.session.execute(
        select(FulfilmentLine.as_of, FulfilmentLine.canteen_amount, FulfilmentLine.union_amount,
               FulfilmentImport.id.label("import_id"), FulfilmentImport.created_at)
        .join(FulfilmentImport, FulfilmentImport.id == FulfilmentLine.import_id)
        .where(FulfilmentLine.unit_id == unit_id, FulfilmentLine.year == year)
        .order_by(FulfilmentLine.as_of, FulfilmentLine.id)).all()
    form = db.session.scalar(select(Reservation).where(Reservation.unit_id == unit_id, Reservation.year == year))
    finance_node = org.nodes.get(org.finance_of(unit_id))
    return render_page("oversight/unit.html", "content", node=node, figures=figures, series=series, form=form,
                       year=year, day=day, trail=_trail(org, finance_node) if finance_node else [],
                       ratio=completion.ratio, reminders=reminders.received(unit_id))


# --- the 832 statistics imports ------------------------------------------------------------------

def _imports_page(form, status=200, **extra):
    org = OrgMap(units=False)  # the importing finance departments' names
    imports = db.session.scalars(exports.visible_imports_query(current_user).limit(200)).all()
    return render_page("oversight/imports.html", "content", form=form, imports=imports,
                       names={n.id: n.name for n in org.nodes.values()}, **extra), status


def _upload_form():
    form = FulfilmentUploadForm()
    year = current_year() or china_today().year
    form.year.choices = [(str(y), f"{y}年度") for y in range(year, year - 3, -1)]
    if not form.year.data:
        form.year.data = str(year)
    return form


@bp.get("/imports/")
@requires(fulfilment_import.may_import)
def imports():
    return _imports_page(_upload_form())


@bp.get("/imports/export")
@requires(fulfilment_import.may_import)
def imports_export():
    return export_or_queue("oversight.imports", exports.imports_export(current_user, request.args), request.args)


@bp.get("/imports/template")
@requires(fulfilment_import.may_import)
def template():
    return send_file(io.BytesIO(template_workbook()), as_attachment=True, download_name="832平台采购统计导入模板.xlsx",
                     mimetype=XLSX)


@bp.post("/imports/")
@requires(fulfilment_import.may_import)
def preview():
    form = _upload_form()
    if not form.validate_on_submit():
        return _imports_page(form, 422)
    upload = form.file.data
    data = upload.read(fulfilment_import.MAX_BYTES + 1) if upload else b""
    filename = Path((upload.filename if upload else "") or "832.xlsx").name
    try:
        plan = fulfilment_import.plan_import(current_user, data, year=int(form.year.data), as_of=form.as_of_date,
                                             today=china_today())
    except PermissionDenied:
        abort(403)
    except ValidationFailed as failed:
        apply_errors(form, failed.errors)
        return _imports_page(form, 422)
    if not plan.ok:
        token = staged_uploads.stage(current_user, ERRORS, f"{Path(filename).stem[:60]}-错误原因.xlsx",
                                     fulfilment_import.error_workbook(data, plan.errors))
        db.session.commit()
        return _imports_page(_upload_form(), 422, plan=plan, filename=filename, error_token=token)
    token = staged_uploads.stage(current_user, STAGED, filename, data)
    db.session.commit()
    confirm = ConfirmImportForm(token=token, year=str(plan.year), as_of=plan.as_of.isoformat())
    return _imports_page(_upload_form(), plan=plan, filename=filename, confirm=confirm)


@bp.post("/imports/confirm")
@requires(fulfilment_import.may_import)
def confirm():
    form = ConfirmImportForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        staged = staged_uploads.read(current_user, STAGED, form.token.data)
        # checked again: units and earlier imports may have changed since the preview
        plan = fulfilment_import.plan_import(current_user, staged.data, year=form.year_value,
                                             as_of=form.as_of_value, today=china_today())
    except staged_uploads.StagedUploadMissing as missing:
        form = _upload_form()
        form.form_errors.append(missing.message)
        return _imports_page(form, 422)
    except ValidationFailed as failed:
        form = _upload_form()
        apply_errors(form, failed.errors)
        return _imports_page(form, 422)
    if not plan.ok:
        token = staged_uploads.stage(current_user, ERRORS, f"{Path(staged.filename).stem[:60]}-错误原因.xlsx",
                                     fulfilment_import.error_workbook(staged.data, plan.errors))
        db.session.commit()
        return _imports_page(_upload_form(), 422, plan=plan, filename=staged.filename, error_token=token)
    staged_uploads.consume(current_user, STAGED, form.token.data)
    made = fulfilment_import.commit_import(current_user, plan, filename=staged.filename, data=staged.data)
    db.session.commit()
    return redirect(url_for("oversight.import_detail", import_id=made.id, imported=1))


@bp.get("/imports/errors/<token>")
@requires(fulfilment_import.may_import)
def error_file(token):
    """The person's own failed file with its 错误原因 column; nobody else's."""
    try:
        kept = staged_uploads.read(current_user, ERRORS, token)
    except staged_uploads.StagedUploadMissing:
        abort(404)
    return send_file(io.BytesIO(kept.data), as_attachment=True, download_name=kept.filename, mimetype=XLSX)


@bp.get("/imports/<int:import_id>")
@requires(is_overseer)
def import_detail(import_id):
    org = OrgMap(units=False)
    made = db.session.get(FulfilmentImport, import_id)
    if made is None or made.finance_id not in org.finance_subtree(current_user.unit_id):
        abort(404)
    org.read_units(select(FulfilmentLine.unit_id).where(FulfilmentLine.import_id == import_id))
    return render_page("oversight/import_detail.html", "content", made=made, names={n.id: n.name for n in
                                                                                    org.nodes.values()},
                       just_imported=request.args.get("imported") == "1")
