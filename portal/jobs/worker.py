"""`flask --app app worker`: runs the jobs, as many processes and machines as the operator starts.

SIGTERM and SIGINT (systemctl stop, Ctrl-C) let the job in hand finish, then the worker leaves; a
worker killed outright leaves that job to the next one once its lease has run out. A database
that is away is waited for, not fatal.
"""
import signal
import time

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy.exc import OperationalError

from portal.extensions import db
from portal.jobs.queue import claim, run, worker_name


class _Stop:
    requested = False

    def __call__(self, signum, frame):
        self.requested = True


@click.command("worker")
@click.option("--burst", is_flag=True, help="run the jobs that are due, then exit")
@click.option("--poll", default=1.0, show_default=True, help="seconds between looks when the queue is empty")
@click.option("--kinds", default="", help="only these kinds, comma-separated (e.g. sms,sheet), so that long "
              "exports and batch approvals never hold up a login code")
@with_appcontext
def worker_command(burst, poll, kinds):
    """Run background jobs (SMS, sheets, exports) until stopped."""
    stop = _Stop()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    name = worker_name()
    only = [kind.strip() for kind in kinds.split(",") if kind.strip()] or None
    click.echo(f"后台任务进程 {name} 已启动" + (f"（只执行 {','.join(only)}）" if only else ""))
    ran = 0
    while not stop.requested:
        try:
            job = claim(worker=name, kinds=only)
            if job is not None:
                run(job)
                ran += 1
                continue
        except OperationalError:
            db.session.rollback()
            current_app.logger.warning("worker %s: database unavailable, retrying", name)
        except Exception:  # a worker outlives any one job's trouble; the job's lease brings it back
            db.session.rollback()
            current_app.logger.exception("worker %s: unexpected error, going on", name)
        if burst:
            break
        time.sleep(poll)
    db.session.remove()
    click.echo(f"后台任务进程 {name} 已停止，本次执行 {ran} 个任务")
