from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.clock import utcnow
from portal.dbtypes import EncryptedText
from portal.extensions import db

QUEUED, RUNNING, DONE, FAILED, EXPIRED = "queued", "running", "done", "failed", "expired"
STATUS_LABELS = {QUEUED: "等待执行", RUNNING: "执行中", DONE: "已完成", FAILED: "失败", EXPIRED: "已过期"}


class Job(db.Model):
    """A piece of work written in the transaction of the change that causes it (a transactional
    outbox): it exists if and only if that change committed. Workers claim it for a lease; a
    worker that dies leaves the lease to run out and the job to the next one."""

    __tablename__ = "job"
    __table_args__ = (Index("ix_job_status_run_after", "status", "run_after"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: what runs it (jobs/handlers.py HANDLERS)
    kind: Mapped[str] = mapped_column(String(20))
    #: the handler's arguments as JSON, SM4-encrypted (an SMS carries a number and its text);
    #: emptied once the job is over (剩余信息保护)
    payload: Mapped[str | None] = mapped_column(EncryptedText("job.payload", length=None), deferred=True)
    #: what the administrators' page shows of it, with no personal data (a masked number)
    summary: Mapped[str] = mapped_column(String(200), default="")
    #: the object the job works for ("reservation:12"), so that its page can show the job waiting
    subject: Mapped[str | None] = mapped_column(String(60), index=True)
    status: Mapped[str] = mapped_column(String(10), default=QUEUED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=8)
    #: not before this time (the backoff after a failed try)
    run_after: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    #: a job not done by then is dropped, not failed (a login code nobody can use any more)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime)
    #: the claiming worker's lease: past it, the job is another worker's to take
    locked_until: Mapped[datetime | None] = mapped_column(DateTime)
    locked_by: Mapped[str | None] = mapped_column(String(60))
    last_error: Mapped[str | None] = mapped_column(String(500))
    #: one job per message or per piece of work, however often the cause is repeated
    dedupe_key: Mapped[str | None] = mapped_column(String(120), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"))
    #: the handler's answer as JSON (e.g. the file an export wrote, a batch's refusals naming who
    #: acted), for the page that waits on it; SM4-encrypted, as it may name people
    result: Mapped[str | None] = mapped_column(EncryptedText("job.result", length=None))
    #: how far a long job is (rows written of total), for the page that waits on it
    progress: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    total: Mapped[int | None] = mapped_column(Integer)

    @property
    def status_label(self):
        return STATUS_LABELS[self.status]
