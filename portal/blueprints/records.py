"""Filing purchase records: my list and its export, the entry form, vouchers, the detail page
and the record printed as a PDF."""
import io

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, send_file, url_for
from flask_login import current_user
from sqlalchemy import select

from portal.accounts.rules import does_business
from portal.blueprints.common import (
    apply_errors, export_or_queue, fragment, id_arg, keyset_page, load_or_404, render_page, requires, with_toast,
)
from portal.errors import PermissionDenied, ValidationFailed
from portal.extensions import db
from portal.forms.records import RecordForm, ReviewForm
from portal.records import exports, queries, rules, service, vouchers, workflow
from portal.records import record_pdf as printing
from portal.records.flags import FLAG_LABELS
from portal.records.models import PurchaseRecord, Voucher
from portal.records.periods import open_periods
from portal.records.states import STATUS_LABELS, VOUCHER_KINDS
from portal.reference.models import DictionaryEntry, Region

bp = Blueprint("records", __name__, url_prefix="/records")


def load_record(record_id, options=()):
    return load_or_404(PurchaseRecord, record_id, rules.may_view, options)


def _load_voucher(record_id, voucher_id):
    record = load_record(record_id)
    voucher = db.session.get(Voucher, voucher_id)
    if voucher is None or voucher.record_id != record.id:
        abort(404)
    return record, voucher


def _regions(level, parent_code=None):
    query = select(Region).where(Region.level == level)
    if parent_code is not None:
        query = query.where(Region.parent_code == parent_code)
    return db.session.scalars(query.order_by(Region.code)).all()


def _region_choices(regions):
    return [("", "请选择")] + [(r.code, r.name + ("（重点帮扶县）" if r.key_county else "")) for r in regions]


def _record_form(record=None):
    form = RecordForm(obj=record) if request.method == "GET" and record else RecordForm()
    if request.method == "GET" and record is not None:
        form.direct_from_origin.data = {True: "1", False: "0"}.get(record.direct_from_origin)
        for name in ("period_id", "category_id", "measure_unit_id"):
            getattr(form, name).data = str(getattr(record, name) or "")
    form.period_id.choices = [("", "请选择")] + [(str(p.id), p.name) for p in open_periods()]
    for field, kind in ((form.category_id, "category"), (form.measure_unit_id, "measure_unit")):
        entries = db.session.scalars(select(DictionaryEntry).where(DictionaryEntry.kind == kind,
                                                                   DictionaryEntry.active.is_(True))
                                     .order_by(DictionaryEntry.position))
        field.choices = [("", "请选择")] + [(str(e.id), e.name) for e in entries]
    form.origin_province_code.choices = _region_choices(_regions("province"))
    province = form.origin_province_code.data
    city = form.origin_city_code.data
    form.origin_city_code.choices = _region_choices(_regions("city", province) if province else [])
    form.origin_county_code.choices = _region_choices(_regions("county", city) if city else [])
    return form


@bp.get("/")
@requires(rules.may_file)
def index():
    filters = exports.own_filters(request.args)
    records, next_before = keyset_page(exports.own_query(current_user, filters), PurchaseRecord.id, id_arg("before"),
                                       descending=True)
    return render_page("records/index.html", "record_rows", records=records, next_before=next_before,
                       statuses=STATUS_LABELS, **filters)


@bp.get("/export")
@requires(rules.may_file)
def export():
    """The list under the page's filters as Excel: the unit's own records, never another's."""
    return export_or_queue("records.own", exports.own_export(current_user, request.args), request.args)


@bp.route("/new", methods=["GET", "POST"])
@requires(rules.may_file)
def new():
    form = _record_form()
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        try:
            record = service.create_draft(current_user, request.form)
        except ValidationFailed as failed:
            db.session.rollback()
            apply_errors(form, failed.errors)
            return render_template("records/form.html", form=form, record=None, kinds=VOUCHER_KINDS), 422
        db.session.commit()
        flash("草稿已保存。请上传采购凭证，然后提交。", "success")
        return redirect(url_for("records.edit", record_id=record.id))
    return render_template("records/form.html", form=form, record=None, kinds=VOUCHER_KINDS)


@bp.route("/<int:record_id>/edit", methods=["GET", "POST"])
@requires(rules.may_file)
def edit(record_id):
    record = load_record(record_id)
    if not rules.may_edit(current_user, record):
        flash(f"该记录当前状态为“{record.status_label}”，不能修改", "warning")
        return redirect(url_for("records.detail", record_id=record.id))
    form = _record_form(record)
    if request.method == "GET":
        form.version.data = record.version
        return render_template("records/form.html", form=form, record=record, kinds=VOUCHER_KINDS)
    if not form.validate_on_submit():
        abort(400)
    try:
        service.save_fields(current_user, record, request.form, expected_version=form.version.data)
        if request.form.get("action") == "submit":
            workflow.submit(current_user, record, amount_threshold=current_app.config["RECORD_AMOUNT_ALERT"])
    except ValidationFailed as failed:
        db.session.rollback()
        record = load_record(record_id)
        apply_errors(form, failed.errors)
        form.version.data = record.version
        return render_template("records/form.html", form=form, record=record, errors=failed.errors,
                               kinds=VOUCHER_KINDS), 422
    except workflow.Conflict as conflict:
        db.session.rollback()
        flash(conflict.message, "warning")
        return redirect(url_for("records.detail", record_id=record_id))
    except PermissionDenied as denied:
        db.session.rollback()
        flash(denied.message, "warning")
        return redirect(url_for("records.detail", record_id=record_id))
    db.session.commit()
    if record.status in ("filed", "submitted"):
        reviewer = record.first_reviewer.name if record.first_reviewer else "市级帮扶部门"
        flash(f"已提交，等待{reviewer}审核", "success")
        return redirect(url_for("records.index"))
    flash("已保存", "success")
    return redirect(url_for("records.edit", record_id=record.id))


@bp.get("/<int:record_id>")
@requires(does_business)
def detail(record_id):
    record = load_record(record_id, queries.SHOWN_WITH_RECORD)
    review = ReviewForm(data={"version": record.version})
    return render_template("records/detail.html", record=record, review=review, flag_labels=FLAG_LABELS,
                           level=rules.review_level(current_user, record),
                           editable=rules.may_edit(current_user, record))


@bp.get("/<int:record_id>/pdf")
@requires(does_business)
def record_pdf(record_id):
    """The record with its vouchers and history, printed; a download, so the trail keeps it
    (audit_log.log_files_and_refusals)."""
    record = load_record(record_id)
    content = printing.render(record, current_user.unit)
    return send_file(io.BytesIO(content), mimetype="application/pdf", as_attachment=True,
                     download_name=printing.download_name(record), max_age=0)


@bp.get("/regions")
@requires(does_business)
def region_options():
    """Options of the next level for the cascading origin choice."""
    parent = request.args.get("origin_province_code") if request.args.get("level") == "city" \
        else request.args.get("origin_city_code")
    level = "city" if request.args.get("level") == "city" else "county"
    regions = _regions(level, parent) if parent else []
    return fragment("records/_region_options.html", "options", choices=_region_choices(regions))


@bp.post("/<int:record_id>/vouchers")
@requires(rules.may_file)
def upload_voucher(record_id):
    record = load_record(record_id)
    upload = request.files.get("file")
    error = None
    try:
        vouchers.add_voucher(current_user, record, upload.stream if upload else None,
                             upload.filename if upload else "", request.form.get("kind", ""),
                             root=vouchers.voucher_root(current_app.instance_path),
                             max_bytes=current_app.config["VOUCHER_MAX_MB"] * 1024 * 1024)
    except ValidationFailed as failed:
        db.session.rollback()
        error = next(iter(failed.errors.values()))
    except PermissionDenied as denied:
        db.session.rollback()
        abort(403, denied.message)
    else:
        db.session.commit()
    record = load_record(record_id)
    response = fragment("records/_vouchers.html", "vouchers", record=record, editable=rules.may_edit(
        current_user, record), upload_error=error, kinds=VOUCHER_KINDS)
    if error:
        return response, 422
    return with_toast(response, "凭证已上传")


@bp.post("/<int:record_id>/vouchers/<int:voucher_id>/delete")
@requires(rules.may_file)
def delete_voucher(record_id, voucher_id):
    record, voucher = _load_voucher(record_id, voucher_id)
    try:
        path = vouchers.remove_voucher(current_user, voucher, root=vouchers.voucher_root(current_app.instance_path))
    except PermissionDenied as denied:
        db.session.rollback()
        abort(403, denied.message)
    db.session.commit()
    path.unlink(missing_ok=True)
    record = load_record(record_id)
    return with_toast(fragment("records/_vouchers.html", "vouchers", record=record, editable=True,
                               upload_error=None, kinds=VOUCHER_KINDS), "凭证已删除")


@bp.get("/<int:record_id>/vouchers/<int:voucher_id>")
@requires(does_business)
def voucher_file(record_id, voucher_id):
    _, voucher = _load_voucher(record_id, voucher_id)
    path = vouchers.voucher_root(current_app.instance_path) / voucher.stored_name
    if not path.is_file():
        abort(404)
    # A PDF is never shown from the portal's origin: a viewer would run what it holds.
    download = not voucher.is_image or request.args.get("download") == "1"
    response = send_file(path, mimetype=voucher.content_type, as_attachment=download,
                         download_name=vouchers.download_name(voucher), conditional=True, max_age=0)
    response.headers.update(vouchers.SERVING_HEADERS)
    return response
