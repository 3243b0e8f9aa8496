"""The audit trail as the pages and files show it: the rows an account may read under the filters
(portal/audit.py: audit_scope_clause), one row's cells, and the log's Excel exporter (written by
the job worker when large, jobs/exports.py)."""
from datetime import timedelta

from sqlalchemy import false, func, select
from sqlalchemy.orm import joinedload

from portal.accounts.models import Account
from portal.accounts.validators import normalize_mobile
from portal.audit import ACTION_LABELS, RESULT_LABELS, AuditEvent, audit_scope_clause, reads_audit
from portal.clock import china_day_start, to_china
from portal.extensions import db
from portal.jobs.exports import Export, exporter
from portal.params import Reader, parse_date

COLUMNS = [("序号", 10, "0"), ("时间", 18, None), ("操作人", 14, None), ("手机号", 14, None), ("单位", 28, None),
           ("操作", 16, None), ("对象", 24, None), ("结果", 8, None), ("IP", 16, None), ("详情", 60, None)]


def filtered(args, account):
    """The query of the rows the account may read under the filters, and what the page says of
    the filters it could not read."""
    query = (select(AuditEvent).options(joinedload(AuditEvent.account), joinedload(AuditEvent.unit))
             .where(audit_scope_clause(account)))
    if args.get("action") in ACTION_LABELS:
        query = query.where(AuditEvent.action == args["action"])
    if args.get("result") in RESULT_LABELS:
        query = query.where(AuditEvent.result == args["result"])
    phone = normalize_mobile(args.get("phone", ""))
    if phone:
        account_id = db.session.scalar(select(Account.id).where(Account.with_phone(phone)))
        # A number with no account did nothing as an operator: show nothing, not the anonymous rows.
        query = query.where(AuditEvent.account_id == account_id if account_id else false())
    reader = Reader(args)
    start, end = reader.get("start", parse_date, label="开始日期"), reader.get("end", parse_date, label="结束日期")
    if start:
        query = query.where(AuditEvent.at >= china_day_start(start))
    if end:
        query = query.where(AuditEvent.at < china_day_start(end + timedelta(days=1)))
    phone_invalid = bool(args.get("phone")) and phone is None
    return query, phone_invalid, reader.errors


def _detail_text(event):
    parts = []
    for key, value in event.detail_data.items():
        if isinstance(value, (list, tuple)):
            value = " → ".join(str(item) for item in value)
        parts.append(f"{key}: {value}")
    return "；".join(parts)


def values(event):
    account = event.account
    return [event.seq, to_china(event.at).strftime("%Y-%m-%d %H:%M:%S"),
            account.name if account else "未登录", account.masked_phone if account else "",
            event.unit.name if event.unit else "", event.action_label, event.object_ref or "",
            event.result_label, event.ip or "", _detail_text(event)]


@exporter("audit.log", may=reads_audit)
def log_export(account, args):
    """The filtered trail, newest first, as far as EXPORT_MAX_ROWS (the exporter's writer stops there)."""
    query, _, _ = filtered(args, account)

    def rows():  # read only when written: a queued export's request reads no row
        for event in db.session.scalars(query.order_by(AuditEvent.id.desc()).execution_options(yield_per=1000)):
            yield values(event)

    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    return Export("操作日志", [("操作日志", COLUMNS, rows())], total)
