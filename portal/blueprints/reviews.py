"""Review queues (待审核 / 已审核) for markets, supermarkets, city offices and the province office."""
import json
from datetime import datetime, timezone

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_login import current_user
from sqlalchemy import select

from portal.blueprints.common import (
    commit_keeping_loaded, export_or_queue, fragment, id_arg, keyset_page, load_or_404, render_page, requires, with_toast,
)
from portal.blueprints.records import load_record
from portal.errors import PermissionDenied, ValidationFailed
from portal.extensions import db, htmx
from portal.params import BadValue, parse_id
from portal.clock import utcnow
from portal.jobs.models import Job
from portal.records import batch, exports, queries, rules, workflow
from portal.records.flags import FLAG_LABELS
from portal.records.models import PurchaseRecord, ReviewEvent
from portal.records.states import CHANNEL_LABELS
from portal.reference.models import DictionaryEntry, Region

bp = Blueprint("reviews", __name__, url_prefix="/reviews")


def _queue_context(tab, filters):
    if tab == "done":
        rows, next_key = keyset_page(queries.done_query(current_user, filters), ReviewEvent.id,
                                     id_arg("before"), descending=True)
    else:
        rows, next_key = keyset_page(queries.pending_query(current_user, filters), PurchaseRecord.id,
                                     id_arg("before"), descending=True)
    return dict(tab=tab, rows=rows, next_key=next_key, filters=filters, counts=queries.queue_counts(current_user),
                flag_labels=FLAG_LABELS, channels=CHANNEL_LABELS, seen_at=utcnow().isoformat())


@bp.get("/")
@requires(rules.is_reviewer)
def queue():
    tab = "done" if request.args.get("tab") == "done" else "pending"
    filters = queries.RecordFilters.from_args(request.args)
    categories = db.session.scalars(select(DictionaryEntry).where(DictionaryEntry.kind == "category")
                                    .order_by(DictionaryEntry.position)).all()
    provinces = db.session.scalars(select(Region).where(Region.level == "province").order_by(Region.code)).all()
    return render_page("reviews/queue.html", "queue_body", categories=categories, provinces=provinces,
                       filter_errors=filters.errors, **_queue_context(tab, filters)), 422 if filters.errors else 200


@bp.get("/<int:record_id>/panel")
@requires(rules.is_reviewer)
def panel(record_id):
    record = load_record(record_id, queries.SHOWN_WITH_RECORD)
    return fragment("reviews/_panel.html", "panel", record=record, level=rules.review_level(current_user, record),
                    flag_labels=FLAG_LABELS, conflict=None, reason_error=None, reason=None)


def _decide(record, decision, version, reason):
    if decision == "approve":
        workflow.approve(current_user, record, expected_version=version)
        return "已审核通过"
    if decision == "return":
        workflow.return_for_changes(current_user, record, expected_version=version, reason=reason)
        return "已退回修改，并短信通知填报单位"
    abort(400)


@bp.post("/<int:record_id>/act")
@requires(rules.is_reviewer)
def act(record_id):
    record = load_record(record_id)
    version, reason = id_arg("version", request.form), request.form.get("reason", "")
    if version is None:
        abort(400)  # an action names the version its reviewer looked at
    context = dict(record=record, flag_labels=FLAG_LABELS, conflict=None, reason_error=None, reason=reason,
                   in_panel=request.form.get("view") == "panel")
    try:
        message = _decide(record, request.form.get("decision"), version, reason)
    except ValidationFailed as failed:
        db.session.rollback()
        record = load_record(record_id)
        context.update(record=record, level=rules.review_level(current_user, record),
                       reason_error=failed.errors.get("reason"))
        return fragment("records/_review_actions.html", "review_actions", **context), 422
    except workflow.Conflict as conflict:
        db.session.rollback()
        record = load_record(record_id)
        if not htmx:
            flash(conflict.message, "warning")
            return redirect(url_for("records.detail", record_id=record.id))
        # The page shows the record as it now is, with the message kept beside it (no toast that
        # fades away over stale buttons); in the queue the whole panel is redrawn.
        context.update(record=record, level=rules.review_level(current_user, record), conflict=conflict.message)
        if context["in_panel"]:
            response = fragment("reviews/_panel.html", "panel", **context)
            response.headers.update({"HX-Retarget": "#review-panel-card", "HX-Reswap": "outerHTML"})
        else:
            response = fragment("records/_review_actions.html", "review_actions", **context)
        response.headers["HX-Trigger"] = "queueChanged"
        return response, 409
    except PermissionDenied as denied:
        db.session.rollback()
        abort(403, denied.message)
    commit_keeping_loaded()
    if not htmx:
        flash(message, "success")
        return redirect(url_for("reviews.queue"))
    context.update(record=record, level=None)
    response = fragment("records/_review_actions.html", "review_actions", **context, done_message=message)
    return with_toast(response, message, queueChanged=True)


@bp.post("/batch-approve")
@requires(rules.is_reviewer)
def batch_approve():
    """Approve several selected records, each checked on its own; say what happened to each."""
    approved, refused = 0, []
    for raw in request.form.getlist("selected"):
        record_text, _, version_text = raw.partition(":")
        try:
            record_id, version = parse_id(record_text), parse_id(version_text)
        except BadValue:
            record_id = version = None
        record = db.session.get(PurchaseRecord, record_id) if record_id else None
        if record is None or not rules.may_view(current_user, record) or version is None:
            refused.append(f"{record_text[:20]}：无权审核或页面已过期")
            continue
        try:
            workflow.approve(current_user, record, expected_version=version)
            db.session.commit()
            approved += 1
        except (workflow.Conflict, PermissionDenied) as problem:
            db.session.rollback()
            refused.append(f"{record_id}：{problem.message}")
    message = f"已审核通过 {approved} 条" + (f"，{len(refused)} 条未处理" if refused else "")
    if not htmx:
        flash(message, "success" if not refused else "warning")
        return redirect(url_for("reviews.queue"))
    filters = queries.RecordFilters.from_args(request.args)
    response = fragment("reviews/queue.html", "queue_body", refused=refused, **_queue_context("pending", filters))
    return with_toast(response, message, "success" if not refused else "warning")


@bp.post("/approve-all")
@requires(rules.is_reviewer)
def approve_all():
    """Approve everything the filtered queue held when the reviewer saw it: a job, watched on its page."""
    try:
        seen_at = datetime.fromisoformat(request.form.get("seen_at", "")[:32])
    except ValueError:
        abort(400)
    if seen_at.tzinfo is not None:  # the page sends UTC without a zone; a zone given is honoured
        seen_at = seen_at.astimezone(timezone.utc).replace(tzinfo=None)
    seen_at = min(seen_at, utcnow())
    if queries.RecordFilters.from_args(request.args).errors:
        abort(400)
    job = batch.queue_approve_all(current_user, request.args, seen_at)
    db.session.commit()
    return redirect(url_for("reviews.batch_status", job_id=job.id))


@bp.get("/batches/<int:job_id>")
@requires(rules.is_reviewer)
def batch_status(job_id):
    job = load_or_404(Job, job_id, lambda account, job: job.kind == batch.KIND and job.created_by_id == account.id)
    results = json.loads(job.result) if job.result else {"approved": 0, "refused": []}
    return render_page("reviews/batch.html", "batch", job=job, results=results)


@bp.get("/export")
@requires(rules.is_reviewer)
def export():
    if queries.RecordFilters.from_args(request.args).errors:
        abort(400)  # the page's export link carries only filters the page could read
    return export_or_queue("records.review", exports.review_export(current_user, request.args), request.args)
