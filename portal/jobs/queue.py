"""The job queue: enqueue in the caller's transaction, claim under a lease, run, retry with backoff.

Why a table of our own and not a queue library: the job must exist if and only if the change that
causes it committed, on SQLite (the embedded default, no other service) as on PostgreSQL. The
kept Python queues either enqueue outside that transaction (Celery, RQ, Dramatiq, Huey: a relay
from an outbox table would still be needed, plus a broker) or only on PostgreSQL through their own
connection (procrastinate, PgQueuer). The table is the outbox and the queue at once; PostgreSQL's
FOR UPDATE SKIP LOCKED lets several workers share it, SQLite's single writer does the same there.

A claim is a lease: a worker that dies (SIGKILL, a lost machine) leaves the job to be taken again
once its lease runs out, so every handler must be safe to run twice: those that write do so in
the transaction that marks the job done, so a second run finds the work there.
"""
import json
import logging
import os
import socket
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import and_, event, or_, select, update
from sqlalchemy.orm import Session

from portal.clock import utcnow
from portal.extensions import db
from portal.jobs.models import DONE, EXPIRED, FAILED, QUEUED, RUNNING, Job

log = logging.getLogger(__name__)

#: first retry after this, doubling each time, at most BACKOFF_CAP
BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_CAP = timedelta(hours=1)


@dataclass(frozen=True)
class Handler:
    run: object
    #: how long a worker may hold the job before another may take it
    lease: timedelta
    max_attempts: int


HANDLERS = {}
PENDING = "jobs_pending"


def handler(kind, *, lease=timedelta(minutes=2), max_attempts=8):
    """Register the function that runs jobs of a kind: run(payload, job) -> result or None."""

    def register(run):
        HANDLERS[kind] = Handler(run, lease, max_attempts)
        return run

    return register


class JobError(RuntimeError):
    """A try that failed in an expected way: retried, and shown as its message."""


def enqueue(kind, payload, *, summary="", subject=None, dedupe_key=None, expires_at=None, created_by=None):
    """Add a job to the current transaction; the caller commits it with its change. A job with the
    dedupe key of one already written is not written again (one message is sent once)."""
    session = db.session
    if dedupe_key is not None and session.scalar(select(Job.id).where(Job.dedupe_key == dedupe_key)):
        return None
    job = Job(kind=kind, payload=json.dumps(payload, ensure_ascii=False), summary=summary[:200], subject=subject,
              max_attempts=HANDLERS[kind].max_attempts, dedupe_key=dedupe_key, expires_at=expires_at,
              created_by_id=created_by.id if created_by is not None else None, run_after=utcnow())
    session.add(job)
    session.info.setdefault(PENDING, []).append(job)
    return job


def pending(session=None):
    """The jobs the current transaction has written so far (they exist once it commits)."""
    return list((session or db.session).info.get(PENDING, []))


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _forget_pending(session):
    session.info.pop(PENDING, None)


def backoff(attempts):
    """The wait after the given number of failed tries: 30 s, 1 min, 2 min, ... at most 1 h."""
    return min(BACKOFF_BASE * (2 ** max(attempts - 1, 0)), BACKOFF_CAP)


def worker_name():
    return f"{socket.gethostname()}:{os.getpid()}"[:60]


def _due(now):
    return or_(and_(Job.status == QUEUED, Job.run_after <= now),
               and_(Job.status == RUNNING, Job.locked_until < now))


def claim(now=None, worker=None, kinds=None):
    """Take the next due job for this worker, committed as running under its lease; or None."""
    now = now or utcnow()
    query = select(Job.id, Job.kind).where(_due(now)).order_by(Job.run_after, Job.id).limit(1)
    if kinds:
        query = query.where(Job.kind.in_(kinds))
    if db.session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    row = db.session.execute(query).first()
    if row is None:
        db.session.rollback()
        return None
    lease = HANDLERS[row.kind].lease if row.kind in HANDLERS else timedelta(minutes=2)
    # The condition again: on SQLite a worker that read the same row a moment earlier wins, and
    # this one takes nothing (rowcount 0) rather than running the job twice.
    taken = db.session.execute(
        update(Job).where(Job.id == row.id, _due(now))
        .values(status=RUNNING, attempts=Job.attempts + 1, locked_until=now + lease,
                locked_by=worker or worker_name())
        .execution_options(synchronize_session=False)).rowcount
    db.session.commit()
    return db.session.get(Job, row.id) if taken == 1 else None


def run(job, now=None):
    """Run a claimed job: done (with the handler's writes, in one commit), or retried later,
    or failed after its last try, or expired. Returns the job's new status ("lost" when its
    lease ran out and another worker took it: this run's writes are then dropped)."""
    now = now or utcnow()
    token = lease_token(job)
    if job.attempts > job.max_attempts:  # each worker that took it died before it ended
        return _settle(token, FAILED, now, error="多次执行均未完成（执行进程中断），已停止重试")
    if job.expires_at is not None and job.expires_at <= now:
        return _settle(token, EXPIRED, now, error="过期未执行")
    entry = HANDLERS.get(job.kind)
    try:
        if entry is None:
            raise JobError(f"没有处理“{job.kind}”的程序")
        result = entry.run(json.loads(job.payload or "{}"), job)
    except Exception as error:  # any failure of a try is the job's, never the worker's
        db.session.rollback()
        if isinstance(error, JobError):
            message = str(error)
        else:  # the detail (SQL, paths) is for the log, not for the person's page
            log.exception("job %s (%s) failed", token[0], job.kind)
            message = f"内部错误（任务{token[0]}），详见服务日志"
        if token[2] >= job.max_attempts:
            return _settle(token, FAILED, now, error=message)
        return _settle(token, QUEUED, now, error=message, run_after=now + backoff(token[2]))
    return _settle(token, DONE, now, result=result)


def _settle(token, status, now, *, error=None, result=None, run_after=None):
    """Write the job's outcome, with the handler's writes, if this worker still holds its lease
    (the claim's worker and attempt are the fence); otherwise drop both."""
    values = {"status": status, "locked_until": None}
    if status == QUEUED:
        values.update(locked_by=None, run_after=run_after)
    else:
        values["finished_at"] = now
    if error:
        values["last_error"] = error[:500]
    if result is not None:
        values["result"] = json.dumps(result, ensure_ascii=False)
    if status != FAILED and status != QUEUED:
        values["payload"] = None  # nothing personal stays once it is over; a failed job keeps it for a retry
    db.session.flush()
    held = db.session.execute(update(Job).where(_held(token), Job.status == RUNNING).values(**values)
                              .execution_options(synchronize_session=False)).rowcount
    if held != 1:
        db.session.rollback()
        log.warning("job %s: lease lost to another worker, this run's writes dropped", token[0])
        return "lost"
    db.session.commit()
    return status


def lease_token(job):
    """What fences a run's writes: the job, and the worker and attempt that claimed it."""
    return job.id, job.locked_by, job.attempts


def _held(token):
    job_id, worker, attempt = token
    return and_(Job.id == job_id, Job.locked_by == worker, Job.attempts == attempt)


def report(token, lease, **values):
    """A long job's progress (columns of its row: progress, total, result) with its lease
    extended, in a short transaction of its own so that the waiting page sees it at once; a run
    whose lease another worker has taken writes nothing."""
    with db.engine.begin() as connection:
        connection.execute(update(Job).where(_held(token)).values(locked_until=utcnow() + lease, **values))


def work_off(now=None, kinds=None, limit=None):
    """Run every due job now (a worker's pass; tests call it as the worker would); their count."""
    done = 0
    while limit is None or done < limit:
        job = claim(now=now, kinds=kinds)
        if job is None:
            return done
        run(job, now=now)
        done += 1
    return done


def retry(job, now=None):
    """A failed job back in the queue, its tries counted afresh (the administrators' button)."""
    now = now or utcnow()
    job.status, job.attempts, job.run_after, job.finished_at = QUEUED, 0, now, None
    job.locked_until = job.locked_by = None
    return job
