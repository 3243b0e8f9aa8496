"""gunicorn's settings for production (read from the working directory by `gunicorn app:app`).

Environment: BIND (default 127.0.0.1:8000, behind nginx), WEB_CONCURRENCY (workers, default 4).
"""
import os

bind = os.environ.get("BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "4"))
# Threads rather than one request per process (python -m bench.load, 2026-11-30, README "Load"):
# for 1,000 people on 2 cores, 4 workers of 2 threads served 34.1 requests/s at 17.2 ms of worker
# CPU a request where 4 sync workers served 17.6 at 25.8 ms (fewer processes switching on two
# cores, and kept-alive connections); 2 workers of 4 threads did the same (34.3, 16.8 ms) in half
# the memory (309 MB against 603). A request waits on PostgreSQL for part of its time, which a
# second thread fills.
worker_class = "gthread"
threads = 2
# A voucher upload over a slow line, or a confirmation sheet, is well within this.
timeout = 60
# Seconds an idle kept-alive connection stays open. nginx keeps its connections to gunicorn open
# for its upstream keepalive_timeout (60 s, deploy/nginx/portal.conf): were gunicorn to close one
# first (its default is 2 s), a request nginx sends down it at that moment gets no answer, and a
# POST is not retried: a 502 for a form someone saved. bench.load, whose people pause 2-6 s
# between steps, saw 3 connections reset in 7,524 requests at the default. gthread keeps idle
# connections in its poller, not in a thread, so holding them costs next to nothing.
keepalive = 75


def post_worker_init(worker):
    """Import WeasyPrint (about a second) as each worker starts, so that the first person to
    submit a reserved-share form after a restart does not wait for it."""
    from portal.reservations import sheets

    sheets.warm_up()
