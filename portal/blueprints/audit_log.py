"""The audit trail: the audit administrator reads, filters, verifies and exports everyone's;
the admin of a unit reads and exports its own subtree's (portal/audit.py: reads_audit)."""
import csv
import io
import re
from urllib.parse import quote

from flask import Blueprint, Response, abort, current_app, request
from flask_login import current_user
from sqlalchemy.exc import SQLAlchemyError

from portal import audit
from portal.accounts.models import mask_phone
from portal.accounts.validators import normalize_mobile
from portal.audit import ACTION_LABELS, REFUSALS, RESULT_LABELS, AuditEvent, reads_all_audit, reads_audit
from portal.audit_chain import verify
from portal.audit_export import COLUMNS, filtered, log_export, values
from portal.blueprints.common import export_or_queue, id_arg, keyset_page, render_page, requires
from portal.clock import to_china, utcnow
from portal.excel import FORMULA_STARTS
from portal.extensions import db

bp = Blueprint("audit_log", __name__, url_prefix="/audit")

__all__ = ["bp", "reads_audit"]
FILTER_NAMES = ("action", "result", "phone", "start", "end")



#: files that are exports of data (the rest of the files served are downloads)
EXPORT_TYPES = ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "text/csv")


#: a mobile number typed into a query (a search, a filter), kept masked in the trail
MOBILE_IN_PATH = re.compile(r"(?<![0-9])(1[0-9]{2})[0-9]{4}([0-9]{4})(?![0-9])")


def _logged_path():
    return MOBILE_IN_PATH.sub(r"\1****\2", request.full_path.rstrip("?"))[:300]


@bp.after_app_request
def log_files_and_refusals(response):
    """One audit row for every file a logged-in account receives (exports and downloads: the
    response names a file) and every request refused with 403, or 404 on an object id.
    Views need not remember to: a new export or object page is covered as it is written."""
    status, endpoint, args = response.status_code, request.endpoint, request.view_args or {}
    if endpoint == "audit_log.export":
        return response
    if status == 200 and "Content-Disposition" in response.headers:
        action = "export" if response.mimetype in EXPORT_TYPES else "download"
        detail = {"文件类型": response.mimetype, "路径": _logged_path()}
        result = "ok"
    elif status == 403 or (status == 404 and args):
        action, result = "refused", "denied"
        detail = {"状态": status, "原因": REFUSALS[status], "路径": _logged_path()}
    else:
        return response
    target = ":".join([endpoint or "", "/".join(str(value) for value in args.values())]).rstrip(":")
    try:
        if not current_user or not current_user.is_authenticated:
            return response
        if result == "denied":
            db.session.rollback()  # a refused request keeps nothing it may have begun
        audit.record(action, object_ref=target[:60], result=result, detail=detail)
        db.session.commit()
    except SQLAlchemyError:
        db.session.rollback()
        current_app.logger.exception("audit row for %s %s not written", status, request.path)
    return response


def _page(verdict=None, status=200):
    query, phone_invalid, errors = filtered(request.args, current_user)
    events, next_before = keyset_page(query, AuditEvent.id, id_arg("before"), descending=True)
    filters = {key: request.args.get(key, "") for key in FILTER_NAMES}
    active = {key: value for key, value in filters.items() if value}
    block = "verdict" if verdict is not None and request.headers.get("HX-Request") else "results"
    return render_page("audit/index.html", block, events=events, next_before=next_before, filters=filters,
                       active_filters=active, actions=ACTION_LABELS, results=RESULT_LABELS,
                       phone_invalid=phone_invalid, filter_errors=errors, verdict=verdict,
                       may_verify=reads_all_audit(current_user)), 422 if errors and status == 200 else status


@bp.get("/")
@requires(reads_audit)
def index():
    return _page()


@bp.post("/verify")
@requires(reads_all_audit)
def run_verify():
    """The same check as `flask audit-verify`, for the audit administrator; the check itself is logged."""
    verdict = verify(db.session)
    db.session.rollback()
    audit.record("audit_verified", result="ok" if verdict.ok else "failed", detail={"结果": verdict.message})
    db.session.commit()
    return _page(verdict)


def _csv_cell(value):
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


@bp.get("/export")
@requires(reads_audit)
def export():
    """The filtered view as Excel or CSV (UTF-8 with a BOM, so that Excel reads the Chinese)."""
    kind = request.args.get("format", "xlsx")
    query, phone_invalid, errors = filtered(request.args, current_user)
    if kind not in ("xlsx", "csv") or errors or phone_invalid:
        abort(400)  # the page's export links carry only filters the page could read
    limit = current_app.config["EXPORT_MAX_ROWS"]
    query = query.order_by(AuditEvent.id.desc()).limit(limit)
    active = {key: request.args[key] for key in FILTER_NAMES if request.args.get(key)}
    if "phone" in active:
        active["phone"] = mask_phone(normalize_mobile(active["phone"]))
    conditions = "，".join(f"{key}={value}" for key, value in active.items()) or "全部"
    audit.record("audit_exported", object_ref=f"audit:{kind}", detail={"条件": conditions})
    db.session.commit()
    if kind == "xlsx":  # a large one is written by the worker while the person watches
        return export_or_queue("audit.log", log_export(current_user, request.args), request.args)
    rows = (values(event) for event in db.session.scalars(query.execution_options(yield_per=1000)))

    # built whole, like the Excel file: the rows are bounded by EXPORT_MAX_ROWS
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer)
    writer.writerow([title for title, _, _ in COLUMNS])
    writer.writerows([_csv_cell(value) for value in cells] for cells in rows)
    name = f"操作日志-{to_china(utcnow()):%Y%m%d-%H%M}.csv"
    response = Response(buffer.getvalue().encode("utf-8"), mimetype="text/csv; charset=utf-8")
    response.headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(name)}"
    return response
