"""A large export's page: its progress while the worker writes it, then the file. Only the account
that asked for it may see it or download it."""
import json

from flask import Blueprint, abort, send_file
from flask_login import login_required

from portal.blueprints.common import load_or_404, render_page
from portal.excel import XLSX_TYPE, download_name
from portal.jobs import exports
from portal.jobs.models import Job

bp = Blueprint("exports", __name__, url_prefix="/exports")


def _own_export(job_id):
    return load_or_404(Job, job_id, exports.may_fetch)


@bp.get("/<int:job_id>")
@login_required
def status(job_id):
    job = _own_export(job_id)
    title = json.loads(job.result)["title"] if job.result else job.summary.removeprefix("导出：")
    return render_page("exports/status.html", "status", job=job, title=title, ready=exports.file_of(job) is not None)


@bp.get("/<int:job_id>/download")
@login_required
def download(job_id):
    job = _own_export(job_id)
    path = exports.file_of(job)
    if path is None:
        abort(404)
    return send_file(path, as_attachment=True, mimetype=XLSX_TYPE,
                     download_name=download_name(json.loads(job.result)["title"]))
