"""Where the portal keeps its files: uploaded vouchers, PDF confirmation sheets, and whatever a
request or a worker writes for a later request to read. One interface (FileStore), one folder per
kind under FILES_DIR.

FILES_DIR is unset by default: the files stay in the instance folder (PORTAL_INSTANCE/vouchers,
PORTAL_INSTANCE/sheets), where an existing install has them. Several app servers mount one shared
file system (NFS 4.1 or CephFS) at the same path and set FILES_DIR to it: a voucher uploaded
through one server is then served by every other, and a sheet a worker drew on any machine is
downloaded through any server. Why a shared mount and not an S3-compatible object store: the
files are small and few (one per record, one per confirmation), every reader (send_file with
conditional requests, the backup, the restore) reads plain files, and a mount is a service the
intranet's operators already run and back up; an object store would be one more server, one more
client library and its credentials, for no gain at this size.

What a store promises, on a local disk as on NFS or CephFS: a file is written once, under a name
that is new (random, and created exclusively by a hard link, which never replaces a file), from
a temporary file in the same folder whose bytes are on disk (fsync) before it is linked into
place. A reader, on this server or another (close-to-open consistency), sees the whole file or
no file; a crash never leaves half a file under a real name.
"""
import os
import secrets
from pathlib import Path, PurePosixPath

from flask import current_app, has_app_context
from sqlalchemy import event
from sqlalchemy.orm import Session

#: the kinds a backup holds (portal/backup/archive.py); other kinds may live beside them
BACKED_UP = ("vouchers", "sheets")
#: where a session keeps the files it wrote, until its transaction ends
PENDING_FILES = "portal_pending_files"
#: temporary files start with this: never a stored name, never listed
TEMPORARY_PREFIX = "."


class UnsafeName(ValueError):
    """A stored name that would leave its folder (absolute, or with . or .. in it)."""


def files_dir(instance_path=None):
    """The folder that holds vouchers/ and sheets/: the running app's FILES_DIR when set (the shared
    mount), else the instance folder given, else the running app's."""
    configured = current_app.config.get("FILES_DIR") if has_app_context() else None
    if configured:
        return Path(configured)
    return Path(instance_path if instance_path is not None else current_app.instance_path)


def store(kind, instance_path=None):
    """The FileStore of one kind of file ("vouchers", "sheets", …)."""
    if not kind or "/" in kind or kind.startswith("."):
        raise UnsafeName(kind)
    return FileStore(files_dir(instance_path) / kind)


def relative(name):
    """A stored name as a relative path inside its folder; UnsafeName if it would leave it."""
    path = PurePosixPath(name or "")
    if not path.parts or path.is_absolute() or any(part in ("", ".", "..") for part in path.parts) \
            or "\\" in str(path) or path.name.startswith(TEMPORARY_PREFIX):
        raise UnsafeName(name)
    return path


def _fsync_folder(folder):
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    except OSError:
        pass  # some network file systems refuse fsync of a directory; the link is already durable there
    finally:
        os.close(descriptor)


class FileStore:
    """Files of one kind, named by the portal (never by an uploader): "2025/06/<32 hex>.pdf"."""

    def __init__(self, root):
        self.root = Path(root)

    def __repr__(self):
        return f"FileStore({str(self.root)!r})"

    def path_of(self, name):
        """The file's path, for send_file and the backup; UnsafeName if the name leaves the folder."""
        return self.root / relative(name)

    def exists(self, name):
        try:
            return self.path_of(name).is_file()
        except UnsafeName:
            return False

    def open(self, name):
        """The file opened for reading (binary); FileNotFoundError if it is not there."""
        return open(self.path_of(name), "rb")

    def read(self, name):
        with self.open(name) as stream:
            return stream.read()

    def save(self, folder, suffix, content):
        """Write CONTENT under a new name FOLDER/<32 hex digits>SUFFIX and return that name. The
        bytes reach the disk in a temporary file first and are linked into place only under a
        name that is free: a file is never overwritten, and never seen half written."""
        relative(f"{folder}/x")  # the folder must stay inside the store
        target = self.root / folder
        target.mkdir(parents=True, exist_ok=True)
        temporary = target / f"{TEMPORARY_PREFIX}{secrets.token_hex(8)}.part"
        with open(temporary, "xb") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
        try:
            while True:
                name = f"{folder}/{secrets.token_hex(16)}{suffix}"
                try:
                    os.link(temporary, self.root / name)
                except FileExistsError:
                    continue
                break
        finally:
            temporary.unlink(missing_ok=True)
        _fsync_folder(target)
        return name

    def delete(self, name):
        """Remove the file if it is there."""
        self.path_of(name).unlink(missing_ok=True)

    def names(self):
        """Every stored name, temporary files left out (sorted)."""
        if not self.root.is_dir():
            return []
        return sorted(path.relative_to(self.root).as_posix() for path in self.root.rglob("*")
                      if path.is_file() and not path.name.startswith(TEMPORARY_PREFIX))

    def discard_unless_committed(self, session, name):
        """The file lives only with its row: if the session's transaction ends without a commit
        (a rollback, a failed commit, a session closed), the file is removed."""
        session.info.setdefault(PENDING_FILES, []).append(self.path_of(name))


@event.listens_for(Session, "after_commit")
def _keep_written_files(session):
    session.info.pop(PENDING_FILES, None)


@event.listens_for(Session, "after_transaction_end")
def _drop_unrecorded_files(session, transaction):
    if transaction.parent is None:
        for path in session.info.pop(PENDING_FILES, ()):
            path.unlink(missing_ok=True)
