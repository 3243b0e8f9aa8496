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
@with_appcontext
def worker_command(burst, poll):
    """Run background jobs (SMS, sheets, exports) until stopped."""
    stop = _Stop()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    name = worker_name()
    click.echo(f"后台任务进程 {name} 已启动")
    ran = 0
    while not stop.requested:
        try:
            job = claim(worker=name)
            if job is not None:
                run(job)
                ran += 1
                continue
        except OperationalError:
            db.session.rollback()
            current_app.logger.warning("worker %s: database unavailable, retrying", name)
        if burst:
            break
        time.sleep(poll)
    db.session.remove()
    click.echo(f"后台任务进程 {name} 已停止，本次执行 {ran} 个任务")
