"""Uploads kept between two requests: a file checked and previewed by one request, and committed
(or dropped) by a later one, which another app server may answer.

The bytes live in the "staged" FileStore (portal/storage.py, on the shared FILES_DIR); the row
binds them to a random token, the account that uploaded them, a purpose ("budget_units", …) and
an expiry. Only that account, asking for that purpose before the expiry, reads them back; any
other question gets StagedUploadMissing, the same answer whichever check failed, so a token
reveals nothing. A committed upload is consumed (its row deleted in the caller's transaction,
its file removed once that commits); expired ones go with `flask purge-expired`. Knows nothing
of the request; callers commit.

    token = stage(account, "budget_units", "单位.xlsx", data)   # then commit
    filename, data = read(account, "budget_units", token)
    consume(account, "budget_units", token)                      # then commit
"""
import hashlib
import re
import secrets
from collections import namedtuple
from datetime import datetime, timedelta, timezone

from sqlalchemy import DateTime, ForeignKey, Integer, String, delete, event, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from portal import storage
from portal.clock import utcnow
from portal.extensions import db

#: the FileStore kind (a folder under FILES_DIR) of staged files
KIND = "staged"
#: how long a staged upload waits for its commit
TTL = timedelta(minutes=30)
#: the largest file kept: an import's file (the budget-unit import takes up to 5 MiB) or the
#: person's own file given back with an 错误原因 column, which is a little larger
MAX_BYTES = 8 * 1024 * 1024
#: a file in the store with no row (its request died before the commit) goes after this long
ORPHAN_AGE = timedelta(days=1)
FILENAME_MAX = 200
#: tokens as stage() makes them: secrets.token_urlsafe(32)
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{43}")
PURPOSE_PATTERN = re.compile(r"[a-z0-9_]{1,40}")
#: files of uploads consumed in a session's transaction, removed once it commits
CONSUMED_FILES = "staged_uploads_consumed"

StagedFile = namedtuple("StagedFile", "filename data")


class StagedUploadMissing(LookupError):
    """No such upload for this account and purpose: never staged, expired, consumed, or another
    account's or purpose's."""

    message = "上传的文件已过期或已处理，请重新上传"

    def __init__(self):
        super().__init__(self.message)


class StagedUpload(db.Model):
    """One uploaded file waiting for its commit."""

    __tablename__ = "staged_upload"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: SHA-256 of the token (hex): the table alone gives nobody a token to present
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"), index=True)
    #: what the file is for ("budget_units"): a token staged for one import is no other's
    purpose: Mapped[str] = mapped_column(String(40))
    #: the uploader's own file name, for the pages and for an annotated copy
    filename: Mapped[str] = mapped_column(String(FILENAME_MAX))
    #: the file's name in the "staged" FileStore
    stored_name: Mapped[str] = mapped_column(String(120))
    size: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime, index=True)


def _store():
    return storage.store(KIND)


def _hash(token):
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def stage(account, purpose, filename, data, *, now=None, ttl=TTL):
    """Keep DATA for ACCOUNT and PURPOSE until now + TTL; returns the token that names it. The
    file is removed again if the caller's transaction ends without a commit."""
    if not PURPOSE_PATTERN.fullmatch(purpose or ""):
        raise ValueError(f"not a purpose: {purpose!r}")
    if not isinstance(data, bytes) or len(data) > MAX_BYTES:
        raise ValueError("staged uploads are bytes of at most MAX_BYTES")
    now = now or utcnow()
    store = _store()
    stored_name = store.save(now.strftime("%Y/%m"), ".upload", data)
    store.discard_unless_committed(db.session, stored_name)
    token = secrets.token_urlsafe(32)
    db.session.add(StagedUpload(token_hash=_hash(token), account_id=account.id, purpose=purpose,
                                filename=(filename or "").strip()[:FILENAME_MAX] or "upload",
                                stored_name=stored_name, size=len(data), created_at=now, expires_at=now + ttl))
    db.session.flush()
    return token


def _find(account, purpose, token, now):
    if not isinstance(token, str) or not TOKEN_PATTERN.fullmatch(token):
        raise StagedUploadMissing()
    upload = db.session.scalar(select(StagedUpload).where(StagedUpload.token_hash == _hash(token)))
    if upload is None or upload.account_id != account.id or upload.purpose != purpose \
            or upload.expires_at <= (now or utcnow()):
        raise StagedUploadMissing()
    return upload


def read(account, purpose, token, *, now=None):
    """(filename, bytes) of the upload; StagedUploadMissing unless ACCOUNT staged it for PURPOSE
    and it has neither expired nor been consumed."""
    upload = _find(account, purpose, token, now)
    try:
        return StagedFile(upload.filename, _store().read(upload.stored_name))
    except (FileNotFoundError, storage.UnsafeName):
        raise StagedUploadMissing() from None


def consume(account, purpose, token, *, now=None):
    """Delete the upload in the caller's transaction (its file goes once that commits);
    StagedUploadMissing as read(). Of two requests consuming the same upload at once, one
    deletes the row and the other finds it gone: only one commits anything."""
    upload = _find(account, purpose, token, now)
    deleted = db.session.execute(delete(StagedUpload).where(StagedUpload.id == upload.id)
                                 .execution_options(synchronize_session=False)).rowcount
    if deleted != 1:
        raise StagedUploadMissing()
    db.session.expunge(upload)
    db.session.info.setdefault(CONSUMED_FILES, []).append(_store().path_of(upload.stored_name))


def purge_expired(now=None):
    """Remove expired uploads and their files, and files left without a row; returns how many
    went. The caller commits."""
    now = now or utcnow()
    store = _store()
    expired = db.session.scalars(select(StagedUpload).where(StagedUpload.expires_at <= now)).all()
    for upload in expired:
        store.delete(upload.stored_name)
        db.session.delete(upload)
    db.session.flush()
    kept = set(db.session.scalars(select(StagedUpload.stored_name)))
    cutoff = (now - ORPHAN_AGE).replace(tzinfo=timezone.utc).timestamp()
    orphans = [name for name in store.names() if name not in kept and store.path_of(name).stat().st_mtime < cutoff]
    for name in orphans:
        store.delete(name)
    return len(expired) + len(orphans)


@event.listens_for(Session, "after_commit")
def _remove_consumed_files(session):
    for path in session.info.pop(CONSUMED_FILES, ()):
        path.unlink(missing_ok=True)


@event.listens_for(Session, "after_transaction_end")
def _keep_files_of_rows_rolled_back(session, transaction):
    if transaction.parent is None:
        session.info.pop(CONSUMED_FILES, None)
