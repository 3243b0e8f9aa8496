"""The audit trail, for the system administrator and the province office."""
from datetime import timedelta

from flask import Blueprint, request
from sqlalchemy import false, select
from sqlalchemy.orm import joinedload

from portal.accounts.kinds import UnitKind
from portal.accounts.models import Account
from portal.accounts.validators import normalize_mobile
from portal.audit import ACTION_LABELS, RESULT_LABELS, AuditEvent
from portal.blueprints.common import id_arg, keyset_page, render_page, requires
from portal.clock import china_day_start
from portal.extensions import db
from portal.params import Reader, parse_date

bp = Blueprint("audit_log", __name__, url_prefix="/audit")



def reads_audit(account):
    return account.unit.kind in (UnitKind.SYSTEM, UnitKind.PROVINCE_OFFICE)


@bp.get("/")
@requires(reads_audit)
def index():
    args = request.args
    query = select(AuditEvent).options(joinedload(AuditEvent.account), joinedload(AuditEvent.unit))
    if args.get("action") in ACTION_LABELS:
        query = query.where(AuditEvent.action == args["action"])
    if args.get("result") in RESULT_LABELS:
        query = query.where(AuditEvent.result == args["result"])
    phone = normalize_mobile(args.get("phone", ""))
    if phone:
        account_id = db.session.scalar(select(Account.id).where(Account.phone == phone))
        # A number with no account did nothing as an operator: show nothing, not the anonymous rows.
        query = query.where(AuditEvent.account_id == account_id if account_id else false())
    reader = Reader(args)
    start, end = reader.get("start", parse_date, label="开始日期"), reader.get("end", parse_date, label="结束日期")
    if start:
        query = query.where(AuditEvent.at >= china_day_start(start))
    if end:
        query = query.where(AuditEvent.at < china_day_start(end + timedelta(days=1)))
    events, next_before = keyset_page(query, AuditEvent.id, id_arg("before"), descending=True)
    filters = {key: args.get(key, "") for key in ("action", "result", "phone", "start", "end")}
    return render_page("audit/index.html", "results", events=events, next_before=next_before,
                       filters=filters, actions=ACTION_LABELS, results=RESULT_LABELS,
                       phone_invalid=bool(args.get("phone")) and phone is None,
                       filter_errors=reader.errors), 422 if reader.errors else 200
