"""Reserved share: the unit's three-step form, the superior's and the finance department's
confirmation, progress, reminders, batches, the year's policy."""
from functools import partial

from flask import Blueprint, abort, current_app, flash, redirect, request, url_for
from flask_login import current_user
from sqlalchemy import select

from portal.blueprints.common import (
    apply_errors, export_or_queue, fragment, id_arg, load_or_404, once_per_request, render_page, requires, with_toast,
    year_arg,
)
from portal.errors import PermissionDenied, ValidationFailed
from portal.extensions import db, htmx
from portal.forms.reservations import ContactsForm, DecisionForm, FiguresForm, PolicyForm, SubmitForm
from portal.reservations import (
    contacts, exports, form_rules, policy as policies, queries, scope, sheet_jobs, tallies, workflow,
)
from portal.reservations.models import Reservation, YearPolicy
from portal.reservations.states import ATTESTATION, CANTEEN_TYPES, STATUS_LABELS

bp = Blueprint("reservations", __name__, url_prefix="/reservations")

STEPS = {1: "填报预留份额", 2: "核对联系人信息", 3: "确认并提交"}
STEP_ENDPOINTS = {1: "reservations.step_figures", 2: "reservations.step_contacts", 3: "reservations.step_confirm"}


@once_per_request
def confirms_subordinates():
    """Whether the account's unit confirms other units' forms: base.html's menu asks it where it lists
    a budget unit's entries, and the home page for its queue; one indexed lookup a request."""
    return scope.has_subordinates(current_user.unit)


@bp.app_context_processor
def reservation_menu():
    return {"confirms_subordinates": confirms_subordinates}


def _policy(year):
    policy = db.session.get(YearPolicy, year)
    if policy is None:
        abort(404)
    return policy


def _load(reservation_id):
    return load_or_404(Reservation, reservation_id, scope.may_view)


def _no_policy():
    """Before the province finance department has set any year's policy (a new installation)."""
    return render_page("reservations/no_policy.html", "content", may_set_policy=policies.may_set_policy(current_user))


def _sheet_maker():
    """Sheets are drawn by the worker: the step answers at once and its page polls for the sheet."""
    return partial(sheet_jobs.sheet_later, base_url=current_app.config["PUBLIC_BASE_URL"])


@bp.get("/")
@requires(lambda account: scope.is_budget_unit(account) or scope.is_finance(account))
def index():
    if scope.is_finance(current_user):
        return redirect(url_for("reservations.finance"))
    year = queries.current_year()
    if year is None:
        return _no_policy()
    policy = _policy(year)
    mine = db.session.scalars(select(Reservation).where(Reservation.unit_id == current_user.unit_id)
                              .order_by(Reservation.year.desc())).all()
    current = next((r for r in mine if r.year == year), None)
    return render_page("reservations/index.html", "content", policy=policy, current=current, history=mine,
                       filing_open=policies.filing_open(policy), superior=scope.superior_of(current_user.unit),
                       is_head=scope.has_subordinates(current_user.unit))


def _wizard(step, reservation, policy, form, status=200, **extra):
    last_year = workflow.last_year_of(reservation)
    return render_page("reservations/form.html", "wizard", step=step, steps=STEPS, reservation=reservation,
                       year=reservation.year,
                       policy=policy, form=form, last_year=last_year, canteen_types=CANTEEN_TYPES,
                       attestation=ATTESTATION, flag_labels=form_rules.FLAG_LABELS, **extra), status


def _form_or_refuse(year):
    """The form to show or save; a GET shows a new one unsaved (no write on a GET), a POST
    saves it."""
    policy = _policy(year)
    try:
        reservation = workflow.form_for(current_user, policy, save=request.method == "POST")
    except ValidationFailed as failed:
        db.session.rollback()
        flash(next(iter(failed.errors.values())), "warning")
        return policy, None
    if reservation.status not in ("draft", "returned"):
        flash(f"本单位{year}年度预留份额{reservation.status_label}，不能修改；如需修改请联系上级预算单位退回", "warning")
        return policy, None
    return policy, reservation


@bp.route("/<int(min=2000, max=2099):year>/step/1", methods=["GET", "POST"])
@requires(scope.is_budget_unit)
def step_figures(year):
    policy, reservation = _form_or_refuse(year)
    if reservation is None:
        return redirect(url_for("reservations.index"))
    if request.method == "GET":
        form = FiguresForm(obj=reservation)
        form.union_need.data = {True: "1", False: "0"}.get(reservation.union_need)
        form.version.data = reservation.version
        return _wizard(1, reservation, policy, form)
    form = FiguresForm()
    if not form.validate_on_submit():
        abort(400)
    return _save_step(1, partial(workflow.save_figures, current_user, reservation, request.form, policy),
                      form, reservation, policy, amounts=_amounts(request.form, policy))


def _save_step(step, save, form, reservation, policy, **on_refusal):
    """Save a step and go on to the next one. Refused fields come back beside the form (422)
    with what was typed; a page left open while someone else changed the form goes back to
    the overview, saying who did."""
    try:
        save(expected_version=form.version.data)
    except ValidationFailed as failed:
        db.session.rollback()
        apply_errors(form, failed.errors)
        # A first save that was refused leaves no draft: the form is shown unsaved again.
        reservation = db.session.get(Reservation, reservation.id) if reservation.id else None
        reservation = reservation or workflow.form_for(current_user, policy, save=False)
        form.version.data = reservation.version
        return _wizard(step, reservation, policy, form, 422, **on_refusal)
    except workflow.Conflict as conflict:
        db.session.rollback()
        flash(conflict.message, "warning")
        return redirect(url_for("reservations.index"))
    db.session.commit()
    # A boosted form follows the redirect and swaps in the next step, with its URL in the history.
    return redirect(url_for(STEP_ENDPOINTS[step + 1], year=reservation.year))


def _amounts(data, policy):
    """The preview shows an amount only when the save would accept its figures (100.01% is a message)."""
    values, errors = form_rules.check_figures(data, policy)
    def typed_error(*fields):  # a field still empty is not yet a mistake while someone types
        return next((errors[f] for f in fields if f in errors and (data.get(f) or "").strip()), None)

    reserved_ok = not {"canteen_total", "ratio"} & errors.keys()
    union_ok = not {"union_total", "union_ratio"} & errors.keys()
    return {"reserved_amount": values.get("reserved_amount") if reserved_ok else None,
            "union_expected": values.get("union_expected") if union_ok else None,
            "ratio_error": typed_error("ratio", "canteen_total"),
            "union_ratio_error": typed_error("union_ratio", "union_total")}


@bp.post("/<int(min=2000, max=2099):year>/compute")
@requires(scope.is_budget_unit)
def compute(year):
    """The amounts recomputed as the person types (HTMX), by the same rules as the save."""
    policy = _policy(year)
    return fragment("reservations/form.html", "amounts", amounts=_amounts(request.form, policy), year=year)


@bp.route("/<int(min=2000, max=2099):year>/step/2", methods=["GET", "POST"])
@requires(scope.is_budget_unit)
def step_contacts(year):
    policy, reservation = _form_or_refuse(year)
    if reservation is None:
        return redirect(url_for("reservations.index"))
    if reservation.canteen_type is None:
        return redirect(url_for("reservations.step_figures", year=year))
    if request.method == "GET":
        form = ContactsForm(data=contacts.values_for_form(current_user, reservation))
        form.version.data = reservation.version
        return _wizard(2, reservation, policy, form)
    form = ContactsForm()
    if not form.validate_on_submit():
        abort(400)
    return _save_step(2, partial(workflow.save_contacts, current_user, reservation, request.form),
                      form, reservation, policy)


@bp.route("/<int(min=2000, max=2099):year>/step/3", methods=["GET", "POST"])
@requires(scope.is_budget_unit)
def step_confirm(year):
    policy, reservation = _form_or_refuse(year)
    if reservation is None:
        return redirect(url_for("reservations.index"))
    if reservation.canteen_type is None:
        return redirect(url_for("reservations.step_figures", year=year))
    if reservation.contact_mobile is None:
        return redirect(url_for("reservations.step_contacts", year=year))
    form = SubmitForm() if request.method == "POST" else SubmitForm(data={"version": reservation.version})
    if request.method == "GET":
        return _wizard(3, reservation, policy, form)
    if not form.validate_on_submit():
        abort(400)
    try:
        workflow.submit(current_user, reservation, policy, attested=form.attested.data,
                        expected_version=form.version.data, make_sheet=_sheet_maker())
    except ValidationFailed as failed:
        db.session.rollback()
        apply_errors(form, failed.errors)
        reservation = db.session.get(Reservation, reservation.id)
        return _wizard(3, reservation, policy, form, 422, problems=failed.errors)
    db.session.commit()
    flash(f"已提交，{reservation.status_label}。确认单正在生成，生成后可在下方下载。", "success")
    return redirect(url_for("reservations.detail", reservation_id=reservation.id))


@bp.get("/view/<int:reservation_id>")
@requires(lambda account: scope.is_budget_unit(account) or scope.is_finance(account))
def detail(reservation_id):
    reservation = _load(reservation_id)
    return render_page("reservations/detail.html", "decision", **_detail_context(reservation))


@bp.get("/view/<int:reservation_id>/sheets")
@requires(lambda account: scope.is_budget_unit(account) or scope.is_finance(account))
def sheet_list(reservation_id):
    """The form's sheets, polled by its page while one is being drawn."""
    reservation = _load(reservation_id)
    return fragment("reservations/_sheets.html", "sheets", reservation=reservation,
                    waiting=sheet_jobs.waiting(reservation.id))


def _detail_context(reservation, **extra):
    context = dict(reservation=reservation, last_year=workflow.last_year_of(reservation),
                   waiting=sheet_jobs.waiting(reservation.id),
                   flag_labels=form_rules.FLAG_LABELS, form=DecisionForm(data={"version": reservation.version}),
                   may_confirm=scope.may_confirm(current_user, reservation),
                   may_finalize=scope.may_finalize(current_user, reservation), conflict=None, done=None,
                   contacts_visible=contacts.may_see(current_user, reservation.unit))
    if context["contacts_visible"]:
        context["unit_contacts"] = contacts.current(reservation.unit_id)
    context.update(extra)
    return context


@bp.post("/view/<int:reservation_id>/decide")
@requires(lambda account: scope.is_budget_unit(account) or scope.is_finance(account))
def decide(reservation_id):
    reservation = _load(reservation_id)
    form = DecisionForm()
    if not form.validate_on_submit():
        abort(400)
    decision, version = request.form.get("decision"), form.version.data
    steps = {
        "confirm": lambda: workflow.confirm(current_user, reservation, expected_version=version,
                                            make_sheet=_sheet_maker()),
        "return": lambda: workflow.return_to_unit(current_user, reservation, expected_version=version,
                                                  reason=form.reason.data),
        "finalize": lambda: workflow.finalize(current_user, reservation, expected_version=version,
                                              make_sheet=_sheet_maker()),
        "finance_return": lambda: workflow.finance_return(current_user, reservation, expected_version=version,
                                                          reason=form.reason.data),
    }
    if decision not in steps:
        abort(400)
    try:
        steps[decision]()
    except ValidationFailed as failed:
        db.session.rollback()
        reservation = _load(reservation_id)
        apply_errors(form, failed.errors)
        return render_page("reservations/detail.html", "decision", **_detail_context(reservation, form=form)), 422
    except workflow.Conflict as conflict:
        db.session.rollback()
        reservation = _load(reservation_id)
        return render_page("reservations/detail.html", "decision",
                           **_detail_context(reservation, conflict=conflict.message)), 409
    except PermissionDenied as denied:
        db.session.rollback()
        abort(403, denied.message)
    db.session.commit()
    message = {"confirm": "已确认，并短信通知填报单位", "return": "已退回，并短信通知填报单位",
               "finalize": "财政部门已确认，并短信通知填报单位", "finance_return": "已退回，并短信通知填报单位"}[decision]
    if not htmx:
        flash(message, "success")
        return redirect(url_for("reservations.detail", reservation_id=reservation.id))
    response = render_page("reservations/detail.html", "decision", **_detail_context(reservation, done=message))
    return with_toast(response, message)


@bp.get("/confirmations")
@requires(lambda account: scope.is_budget_unit(account) and scope.has_subordinates(account.unit))
def confirmations():
    """预留份额信息确认: the superior's queue, its department's progress, reminders and the batch,
    each list a page by key with its counts kept by tallies.py."""
    year = queries.current_year()
    if year is None:
        return _no_policy()
    unit = current_user.unit
    queue, queue_next = queries.superior_queue(current_user, year, id_arg("queue_after"))
    rows, last_year, next_after = queries.units_page(unit.id, year, id_arg("after"))
    found = tallies.read(unit.id, year)
    counts = queries.progress_counts(found)
    is_head = scope.department_head(unit).id == unit.id
    return render_page("reservations/confirmations.html", "content", year=year, policy=_policy(year),
                       queue=queue, queue_count=found[tallies.TO_CONFIRM], queue_next=queue_next,
                       rows=rows, counts=counts, last_year=last_year,
                       next_after=next_after, start=_start_arg(), statuses=STATUS_LABELS, is_head=is_head,
                       readiness=queries.readiness(unit, year, counts) if is_head else None,
                       flag_labels=form_rules.FLAG_LABELS, unit_contacts=contacts.by_unit(f.unit_id for f in queue))


def _start_arg():
    """The 序号 of a page's first row, carried by its 下一页 link (a page by key knows no offset)."""
    return (id_arg("start") or 1) if request.args.get("after") else 1


@bp.post("/remind")
@requires(lambda account: scope.is_budget_unit(account) and scope.has_subordinates(account.unit))
def remind():
    year = queries.current_year()
    if year is None:
        return redirect(url_for("reservations.confirmations"))
    targets = workflow.remind_unfiled(current_user, year, _policy(year))
    db.session.commit()
    sent = [t for t in targets if t.skipped is None]
    capped = f"；{len(targets) - len(sent)}个单位今日已达提醒上限或没有账号，未发送" if len(sent) < len(targets) else ""
    flash(f"已向{len(sent)}个未填报单位发送提醒短信{capped}" if targets else "所有下属单位均已填报，无需提醒", "success")
    return redirect(url_for("reservations.confirmations"))


@bp.post("/batch")
@requires(lambda account: scope.is_budget_unit(account) and scope.has_subordinates(account.unit))
def batch():
    year = queries.current_year()
    if year is None:
        return redirect(url_for("reservations.confirmations"))
    try:
        made = workflow.submit_batch(current_user, year)
    except ValidationFailed as failed:
        db.session.rollback()
        flash(next(iter(failed.errors.values())), "danger")
        return redirect(url_for("reservations.confirmations"))
    except PermissionDenied as denied:
        db.session.rollback()
        abort(403, denied.message)
    db.session.commit()
    flash(f"已将{len(made.reservations)}份预留份额汇总提交至{made.reservations[0].finance.name}", "success")
    return redirect(url_for("reservations.confirmations"))


@bp.get("/finance")
@requires(scope.is_finance)
def finance():
    year = year_arg() or queries.current_year()
    if year is None:
        return _no_policy()
    unit = current_user.unit
    queue, queue_next = queries.finance_queue(current_user, year, id_arg("queue_after"))
    rows, _, next_after = queries.units_page(unit.id, year, id_arg("after"))
    found = tallies.read(unit.id, year)
    return render_page("reservations/finance.html", "content", year=year, policy=_policy(year),
                       queue=queue, queue_count=found[tallies.TO_FINALIZE], queue_next=queue_next,
                       rows=rows, counts=queries.progress_counts(found), next_after=next_after,
                       start=_start_arg(), statuses=STATUS_LABELS, flag_labels=form_rules.FLAG_LABELS,
                       years=db.session.scalars(select(YearPolicy.year).order_by(YearPolicy.year.desc())).all(),
                       may_set_policy=policies.may_set_policy(current_user))


@bp.get("/export")
@requires(lambda account: scope.is_finance(account) or scope.is_budget_unit(account))
def export():
    year = year_arg() or queries.current_year()
    if year is None:
        return redirect(url_for("reservations.index"))
    return export_or_queue("reservations.progress", exports.progress_export(current_user, {"year": year}),
                           {"year": year})


@bp.route("/policy", methods=["GET", "POST"])
@requires(policies.may_set_policy)
def policy():
    year = year_arg() or queries.current_year()
    existing = db.session.get(YearPolicy, year) if year is not None else None
    if request.method == "GET":
        form = PolicyForm(obj=existing) if existing else PolicyForm()
        for field in ("filing_deadline", "extended_until", "superior_deadline", "finance_deadline"):
            value = getattr(existing, field, None)
            getattr(form, field).data = value.isoformat() if value else ""
        for field in ("min_ratio", "encouraged_ratio", "national_floor"):
            value = getattr(existing, field, None)
            getattr(form, field).data = f"{value.normalize():f}" if value is not None else ""
        return render_page("reservations/policy.html", "content", form=form, policies=_all_policies())
    form = PolicyForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        saved = policies.save_policy(current_user, request.form)
    except ValidationFailed as failed:
        db.session.rollback()
        apply_errors(form, failed.errors)
        return render_page("reservations/policy.html", "content", form=form, policies=_all_policies()), 422
    db.session.commit()
    flash(f"{saved.year}年度政策已保存", "success")
    return redirect(url_for("reservations.policy", year=saved.year))


def _all_policies():
    return db.session.scalars(select(YearPolicy).order_by(YearPolicy.year.desc())).all()

