"""Large Excel exports as jobs: a list over EXPORT_INLINE_ROWS rows is written by the worker, with
its progress on a page that then offers the file; a smaller one downloads at once, as before.

Each list registers an exporter: exporter(account, args) -> Export, the same function both ways,
so the rows, the scope rule and the filters are the list's own. The worker runs it as the account
that asked (the scope is that account's, not the worker's), writes the workbook row by row to the
instance's exports folder, and only that account may download it.
"""
import json
import secrets
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from sqlalchemy import update
from werkzeug.datastructures import MultiDict

from portal import storage
from portal.accounts.models import Account
from portal.excel import write_workbook
from portal.extensions import db
from portal.jobs.models import Job
from portal.jobs.queue import JobError, enqueue, handler

KIND = "export"
#: how often (rows) the worker tells the waiting page how far it is
PROGRESS_EVERY = 500
def inline_rows():
    """Exports up to this many rows download at once; larger ones are jobs."""
    return current_app.config["EXPORT_INLINE_ROWS"]


@dataclass
class Export:
    title: str
    #: (sheet title, columns, rows) as for excel.write_workbook
    sheets: list
    #: rows it will write, for the progress bar
    total: int


EXPORTERS = {}


def exporter(name):
    def register(build):
        EXPORTERS[name] = build
        return build

    return register


def folder():
    # On the shared files location: any worker writes it, any app server serves it.
    path = storage.files_dir() / "exports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def queue_export(name, account, args, title):
    """Queue an export of a list as the account sees it; the caller commits."""
    return enqueue(KIND, {"name": name, "account_id": account.id, "args": MultiDict(args).to_dict(flat=False)},
                   summary=f"导出：{title}", subject=f"account:{account.id}", created_by=account)


def _counting(rows, job_id, start=0):
    """The rows, telling the job's row how many have been written (its own short transactions,
    so the page that waits sees them while the export goes on)."""
    count = start
    for row in rows:
        yield row
        count += 1
        if count % PROGRESS_EVERY == 0:
            with db.engine.begin() as connection:
                connection.execute(update(Job).where(Job.id == job_id).values(progress=count))


@handler(KIND, lease=timedelta(minutes=30), max_attempts=3)
def _write(payload, job):
    build = EXPORTERS.get(payload["name"])
    account = db.session.get(Account, payload["account_id"])
    if build is None or account is None or not account.is_active:
        raise JobError("导出已不可用（列表或账号已变化）")
    export = build(account, MultiDict(payload["args"]))
    with db.engine.begin() as connection:
        connection.execute(update(Job).where(Job.id == job.id).values(total=export.total, progress=0))
    token = secrets.token_hex(16)
    partial = folder() / f"{token}.part"
    sheets = [(title, columns, _counting(rows, job.id)) for title, columns, rows in export.sheets]
    try:
        write_workbook(partial, sheets, max_rows=current_app.config["EXPORT_MAX_ROWS"])
        partial.rename(folder() / f"{token}.xlsx")
    finally:
        partial.unlink(missing_ok=True)
    job.progress = export.total
    return {"file": token, "title": export.title}


def file_of(job):
    """The finished export's file, or None (not finished, or removed since)."""
    if job.kind != KIND or not job.result:
        return None
    token = json.loads(job.result).get("file", "")
    path = folder() / f"{token}.xlsx"
    return path if len(token) == 32 and path.is_file() else None
