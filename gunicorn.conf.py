"""gunicorn's settings for production (read from the working directory by `gunicorn app:app`).

Environment: BIND (default 127.0.0.1:8000, behind nginx), WEB_CONCURRENCY (workers, default 4).
"""
import os

bind = os.environ.get("BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "4"))
# A voucher upload over a slow line, or a confirmation sheet, is well within this.
timeout = 60


def post_worker_init(worker):
    """Import WeasyPrint (about a second) as each worker starts, so that the first person to
    submit a reserved-share form after a restart does not wait for it."""
    from portal.reservations import sheets

    sheets.warm_up()
