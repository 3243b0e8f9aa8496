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
from werkzeug.datastructures import MultiDict

from portal import storage
from portal.accounts.models import Account
from portal.excel import write_workbook
from portal.extensions import db
from portal.jobs.queue import JobError, enqueue, handler, lease_token, report

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


@dataclass(frozen=True)
class Exporter:
    build: object
    #: who may export the list (the route's own rule), checked again when the worker runs it and
    #: when the file is fetched: a role taken away meanwhile takes the export with it
    may: object


EXPORTERS = {}


def exporter(name, *, may):
    def register(build):
        EXPORTERS[name] = Exporter(build, may)
        return build

    return register


def may_fetch(account, job):
    """The account that asked for the export, while it may still export that list."""
    entry = EXPORTERS.get(json.loads(job.result).get("name", "")) if job.result else None
    return job.kind == KIND and job.created_by_id == account.id and (entry is None or bool(entry.may(account)))


def folder():
    # On the shared files location: any worker writes it, any app server serves it.
    path = storage.files_dir() / "exports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def queue_export(name, account, args, title):
    """Queue an export of a list as the account sees it; the caller commits."""
    return enqueue(KIND, {"name": name, "account_id": account.id, "args": MultiDict(args).to_dict(flat=False)},
                   summary=f"导出：{title}", subject=f"account:{account.id}", created_by=account)


def _counting(rows, token):
    """The rows, telling the job's row how many have been written as they go (queue.report)."""
    count = 0
    for row in rows:
        yield row
        count += 1
        if count % PROGRESS_EVERY == 0:
            report(token, LEASE, progress=count)


LEASE = timedelta(minutes=10)


@handler(KIND, lease=LEASE, max_attempts=3)
def _write(payload, job):
    entry = EXPORTERS.get(payload["name"])
    account = db.session.get(Account, payload["account_id"])
    if entry is None or account is None or not account.is_active or not entry.may(account):
        raise JobError("导出已不可用（列表已变化，或账号已停用或不再有此权限）")
    token = lease_token(job)
    export = entry.build(account, MultiDict(payload["args"]))
    limit = current_app.config["EXPORT_MAX_ROWS"]
    total = min(export.total, limit)
    report(token, LEASE, total=total, progress=0)
    name = secrets.token_hex(16)
    partial = folder() / f"{name}.part"
    sheets = [(title, columns, _counting(rows, token)) for title, columns, rows in export.sheets]
    try:
        write_workbook(partial, sheets, max_rows=limit)
        partial.rename(folder() / f"{name}.xlsx")
    finally:
        partial.unlink(missing_ok=True)
    job.progress = total
    return {"file": name, "title": export.title, "name": payload["name"]}


def file_of(job):
    """The finished export's file, or None (not finished, or removed since)."""
    if job.kind != KIND or not job.result:
        return None
    token = json.loads(job.result).get("file", "")
    path = folder() / f"{token}.xlsx"
    return path if len(token) == 32 and path.is_file() else None
