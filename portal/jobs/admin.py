"""What the security administrator sees and does with the background jobs: the queue's state,
the jobs that gave up (with their error), and a retry."""
from datetime import timedelta

from sqlalchemy import and_, func, or_, select

from portal import audit
from portal.accounts.rules import is_security_admin
from portal.clock import utcnow
from portal.errors import PermissionDenied, ValidationFailed
from portal.extensions import db
from portal.jobs.models import FAILED, QUEUED, RUNNING, STATUS_LABELS, Job
from portal.jobs.queue import retry


def overview(now=None):
    """{status: count}, and how long the oldest job due has waited (a stuck worker shows here)."""
    now = now or utcnow()
    counts = dict(db.session.execute(select(Job.status, func.count(Job.id)).group_by(Job.status)).all())
    # due and nobody on it: queued, or running under a lease that has run out (a long export
    # that is being written is not waiting)
    oldest = db.session.scalar(select(func.min(Job.run_after)).where(
        Job.run_after <= now, or_(Job.status == QUEUED, and_(Job.status == RUNNING, Job.locked_until < now))))
    waited = now - oldest if oldest is not None else timedelta(0)
    return {"counts": {status: counts.get(status, 0) for status in STATUS_LABELS},
            "oldest_wait_minutes": int(waited.total_seconds() // 60)}


def jobs_query(status):
    query = select(Job)
    if status in STATUS_LABELS:
        query = query.where(Job.status == status)
    return query


def retry_failed(actor, job, now=None):
    """Put a failed job back in the queue; the security administrator's action, audited."""
    if not is_security_admin(actor):
        raise PermissionDenied()
    if job.status != FAILED:
        raise ValidationFailed({"job": "只有失败的任务可以重试"})
    retry(job, now)
    audit.record("job_retried", actor=actor, object_ref=f"job:{job.id}",
                 detail={"kind": job.kind, "summary": job.summary, "error": job.last_error or ""})
    return job
