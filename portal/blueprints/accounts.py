"""Account management: the units below an admin, their accounts, and opening new ones."""
from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_login import current_user
from sqlalchemy import func, select

from portal import reminders
from portal.accounts import exports, rules, service
from portal.accounts.kinds import UnitKind
from portal.accounts.models import Account, Unit
from portal.blueprints.common import (
    apply_errors, export_or_queue, fragment, id_arg, keyset_page, load_or_404, render_page, requires, with_toast,
)
from portal.errors import PermissionDenied, ValidationFailed
from portal.extensions import db, htmx
from portal.forms.accounts import ContactForm, OpenUnitForm
from portal.reference.models import GuangdongCity

bp = Blueprint("accounts", __name__, url_prefix="/accounts")


def _load_unit(unit_id):
    return load_or_404(Unit, unit_id, rules.may_manage_unit)


def _load_account(account_id):
    return load_or_404(Account, account_id, lambda admin, account: rules.may_manage_unit(admin, account.unit))


def _open_unit_form():
    form = OpenUnitForm()
    form.kind.choices = [(kind.value, kind.label) for kind in rules.openable_kinds(current_user)]
    cities = db.session.scalars(select(GuangdongCity).order_by(GuangdongCity.code))
    form.city_code.choices = [("", "请选择")] + [(city.code, city.name) for city in cities]
    return form


def _city_kinds():
    """Kinds for which this admin picks the new unit's city (the form shows the field for them)."""
    return [kind.value for kind in rules.openable_kinds(current_user)
            if rules.new_unit_needs_city(current_user, kind)]


@bp.get("/")
@requires(rules.is_admin)
def index():
    filters = exports.list_filters(request.args)
    units, next_after = keyset_page(exports.listed_units_query(current_user, filters), Unit.id, id_arg("after"))
    kinds_present = db.session.scalars(
        select(Unit.kind).where(rules.managed_units_clause(current_user)).group_by(Unit.kind)
    ).all()
    return render_page(
        "accounts/index.html", "unit_table",
        units=units, next_after=next_after, **filters,
        kinds_present=[UnitKind(k) for k in kinds_present],
        own_unit=current_user.unit, openable=rules.openable_kinds(current_user),
    )


@bp.get("/export")
@requires(rules.is_admin)
def export():
    """The list under the page's filters as Excel, with the accounts of its units."""
    return export_or_queue("accounts.units", exports.units_export(current_user, request.args), request.args)


@bp.get("/units/new")
@requires(lambda account: bool(rules.openable_kinds(account)))
def new_unit():
    return render_page("accounts/new_unit.html", "open_unit_form", form=_open_unit_form(),
                       city_kinds=_city_kinds())


@bp.post("/units")
@requires(lambda account: bool(rules.openable_kinds(account)))
def open_unit():
    form = _open_unit_form()
    if not form.validate_on_submit():
        abort(400)
    try:
        unit = service.open_unit(current_user, kind=form.kind.data, name=form.name.data,
                                 contact_name=form.contact_name.data, phone=form.phone.data,
                                 city_code=form.city_code.data or None, credit_code=form.credit_code.data)
    except PermissionDenied:
        db.session.commit()  # keep the audit row of the refusal
        abort(403)
    except ValidationFailed as failed:
        db.session.rollback()
        apply_errors(form, failed.errors)
        return render_page("accounts/new_unit.html", "open_unit_form", form=form,
                           city_kinds=_city_kinds()), 422
    db.session.commit()
    message = f"已开通{unit.kind_label}“{unit.name}”，管理员账号 {unit.accounts[0].masked_phone}"
    if not htmx:
        flash(message, "success")
        return redirect(url_for("accounts.unit", unit_id=unit.id))
    response = fragment("accounts/new_unit.html", "opened", unit=unit, form=_open_unit_form(),
                        city_kinds=_city_kinds())
    return with_toast(response, message, unitsChanged=True)


@bp.get("/units/<int:unit_id>")
@requires(rules.is_admin)
def unit(unit_id):
    unit = _load_unit(unit_id)
    counts = dict(db.session.execute(
        select(Unit.kind, func.count(Unit.id)).where(Unit.parent_id == unit.id).group_by(Unit.kind)
    ).all())
    return render_page("accounts/unit.html", "account_rows", unit=unit, form=ContactForm(),
                       child_counts={UnitKind(k): n for k, n in counts.items()},
                       received_reminders=reminders.received(unit.id))


@bp.get("/units/<int:unit_id>/export")
@requires(rules.is_admin)
def unit_export(unit_id):
    unit = _load_unit(unit_id)
    args = {"unit": str(unit.id)}
    return export_or_queue("accounts.unit", exports.unit_accounts_export(current_user, args), args)


@bp.post("/units/<int:unit_id>/accounts")
@requires(rules.is_admin)
def add_account(unit_id):
    unit = _load_unit(unit_id)
    form = ContactForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        account = service.add_account(current_user, unit, contact_name=form.contact_name.data,
                                      phone=form.phone.data)
    except ValidationFailed as failed:
        db.session.rollback()
        apply_errors(form, failed.errors)
        return render_page("accounts/unit.html", "add_account_form", unit=unit, form=form), 422
    db.session.commit()
    response = fragment("accounts/unit.html", "add_account_form", unit=unit, form=ContactForm())
    return with_toast(response, f"已新增{account.role_label}账号 {account.masked_phone}", accountsChanged=True)


@bp.get("/<int:account_id>/row")
@requires(rules.is_admin)
def account_row(account_id):
    account = _load_account(account_id)
    return fragment("accounts/_account_row.html", "row", account=account)


@bp.get("/<int:account_id>/edit")
@requires(rules.is_admin)
def edit_account(account_id):
    account = _load_account(account_id)
    try:
        contact = service.contact_for_editing(current_user, account)
    except PermissionDenied:
        abort(403)
    db.session.commit()  # the view of the full number is in the trail
    return fragment("accounts/_account_row.html", "edit_row", account=account, form=ContactForm(data=contact))


@bp.post("/<int:account_id>/edit")
@requires(rules.is_admin)
def update_account(account_id):
    account = _load_account(account_id)
    form = ContactForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        service.edit_contact(current_user, account, contact_name=form.contact_name.data, phone=form.phone.data)
    except PermissionDenied:
        db.session.commit()
        abort(403)
    except ValidationFailed as failed:
        db.session.rollback()
        apply_errors(form, failed.errors)
        return fragment("accounts/_account_row.html", "edit_row", account=account, form=form), 422
    db.session.commit()
    return with_toast(fragment("accounts/_account_row.html", "row", account=account), "联系人信息已保存")


@bp.post("/<int:account_id>/disable")
@requires(rules.is_admin)
def disable_account(account_id):
    return _set_active(account_id, False)


@bp.post("/<int:account_id>/enable")
@requires(rules.is_admin)
def enable_account(account_id):
    return _set_active(account_id, True)


def _set_active(account_id, active):
    account = _load_account(account_id)
    try:
        service.set_account_active(current_user, account, active)
    except PermissionDenied:
        db.session.commit()
        abort(403)
    db.session.commit()
    message = f"已{'启用' if active else '停用'}账号 {account.masked_phone}"
    if not htmx:
        flash(message, "success")
        return redirect(url_for("accounts.unit", unit_id=account.unit_id))
    return with_toast(fragment("accounts/_account_row.html", "row", account=account), message)
