"""Background jobs (issue 11): written in the transaction of their cause, run by `flask worker`."""
from portal.jobs.queue import JobError, enqueue, handler, work_off  # noqa: F401
