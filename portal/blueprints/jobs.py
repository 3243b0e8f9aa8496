"""后台任务 for the security administrator: the queue's state, failed jobs and their retry."""
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from portal.accounts.rules import is_security_admin
from portal.blueprints.common import id_arg, keyset_page, load_or_404, requires
from portal.errors import ValidationFailed
from portal.extensions import db
from portal.jobs import admin
from portal.jobs.models import FAILED, STATUS_LABELS, Job

bp = Blueprint("jobs", __name__, url_prefix="/security/jobs")


@bp.get("/")
@requires(is_security_admin)
def index():
    status = request.args.get("status", FAILED)
    if status not in STATUS_LABELS:
        status = FAILED
    rows, next_before = keyset_page(admin.jobs_query(status), Job.id, id_arg("before"), descending=True)
    return render_template("jobs/index.html", jobs=rows, next_before=next_before, status=status,
                           status_labels=STATUS_LABELS, overview=admin.overview())


@bp.post("/<int:job_id>/retry")
@requires(is_security_admin)
def retry(job_id):
    job = load_or_404(Job, job_id, lambda actor, job: is_security_admin(actor))
    try:
        admin.retry_failed(current_user, job)
    except ValidationFailed as refused:
        db.session.rollback()
        flash(refused.errors["job"], "warning")
    else:
        db.session.commit()
        flash(f"任务 {job.id} 已重新排队，后台任务进程将立即执行", "success")
    return redirect(url_for("jobs.index"))
