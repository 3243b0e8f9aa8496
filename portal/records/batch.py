"""Approving every record of a reviewer's queue under its filters (more than a page) as a job.

The reviewer saw the queue at a moment (seen_at): the job approves only records that were waiting
for them then and have not changed since, each in its own transaction with its own checks (a record
returned and filed again, or taken by a colleague meanwhile, is reported, not approved unseen).
Results are written to the job's row as they come, so the page shows them while the job runs; a
worker that dies leaves the rest to the next, which finds the approved ones no longer waiting.
"""
import json
from datetime import datetime, timedelta

from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from portal.accounts.models import Account
from portal.errors import PermissionDenied, ValidationFailed
from portal.extensions import db
from portal.jobs.models import Job
from portal.jobs.queue import JobError, enqueue, handler, lease_token, report
from portal.records import queries, rules, workflow
from portal.records.models import PurchaseRecord

KIND = "approve_all"
LEASE = timedelta(minutes=10)


def _waiting(account, args, seen_at):
    filters = queries.RecordFilters.from_args(args)
    return queries.pending_query(account, filters).where(PurchaseRecord.updated_at <= seen_at)


def queue_approve_all(account, args, seen_at):
    """Queue the approval of what the reviewer's filtered queue held at seen_at; the caller commits."""
    if not rules.is_reviewer(account):
        raise PermissionDenied()
    waiting = _waiting(account, args, seen_at).order_by(None).subquery()
    total, last_id = db.session.execute(select(func.count(), func.max(waiting.c.id))).one()
    job = enqueue(KIND, {"account_id": account.id, "args": MultiDict(args).to_dict(flat=False),
                         "seen_at": seen_at.isoformat(), "last_id": last_id or 0},
                  summary=f"批量审核通过：{total}条", subject=f"account:{account.id}", created_by=account)
    job.total = total
    return job


def _report(token, results):
    """After each record: the page sees it, and a run that takes over after a crash goes on
    from here (each approval is committed on its own, so the results must be too)."""
    report(token, LEASE, progress=results["approved"] + len(results["refused"]),
           result=json.dumps(results, ensure_ascii=False))


@handler(KIND, lease=LEASE, max_attempts=3)
def _approve_all(payload, job):
    account = db.session.get(Account, payload["account_id"])
    if account is None or not account.is_active or not rules.is_reviewer(account):
        raise JobError("账号已停用或不再审核，未处理")
    seen_at = datetime.fromisoformat(payload["seen_at"])
    token = lease_token(job)
    results = json.loads(job.result) if job.result else {"approved": 0, "refused": []}
    reported = {record_id for record_id, _ in results["refused"]}
    # What waits now among the records the queue held then: one changed since is reported below.
    filters = queries.RecordFilters.from_args(MultiDict(payload["args"]))
    waiting = (queries.pending_query(account, filters).where(PurchaseRecord.id <= payload["last_id"])
               .order_by(None).subquery())
    ids = db.session.scalars(select(waiting.c.id).order_by(waiting.c.id)).all()
    for record_id in ids:
        if record_id in reported:  # refused in a run before this one, and said so
            continue
        record = db.session.get(PurchaseRecord, record_id)
        try:
            if record.updated_at > seen_at:
                raise workflow.Conflict(record)  # changed since the reviewer saw the queue: theirs to look at
            workflow.approve(account, record, expected_version=record.version)
            db.session.commit()
            results["approved"] += 1
        except (workflow.Conflict, PermissionDenied) as problem:
            db.session.rollback()
            results["refused"].append([record_id, problem.message])
        except ValidationFailed as problem:
            db.session.rollback()
            results["refused"].append([record_id, "；".join(problem.errors.values())])
        _report(token, results)
    job = db.session.get(Job, token[0])
    job.progress = results["approved"] + len(results["refused"])
    return results
