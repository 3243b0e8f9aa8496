"""Optimistic locking shared by both workflows: a row's version_id_col makes each UPDATE
conditional on the version read, and a lost race becomes the workflow's own Conflict."""
from sqlalchemy.orm.exc import StaleDataError

from portal.audit_chain import head_of
from portal.extensions import db


def check_version(obj, expected_version, conflict):
    """Refuse an action aimed at a version other than the current one.

    Every transition starts here and writes the audit trail, whose appends are serialised by
    one lock (audit_chain.head_of). Taking it now, before the transition's first write, gives
    every transaction the same lock order — the trail, then the rows — so that two reviewers
    acting at once wait for each other instead of deadlocking (a lazy load could otherwise
    flush the row's UPDATE before the audit row asked for the lock)."""
    head_of(db.session())
    # What was read before the lock may be stale by now; it is not read again: the row's UPDATE
    # names the version read, so a transition that waited for another one writes nothing and
    # flush_or_conflict tells the person who acted first.
    if expected_version is not None and int(expected_version) != obj.version:
        raise conflict(obj)


def flush_or_conflict(obj, conflict):
    """Flush; if another transaction changed the row between our read and our write, roll back,
    reload it and raise `conflict(obj)` so that the person is told what happened."""
    try:
        db.session.flush()
    except StaleDataError:
        db.session.rollback()
        db.session.refresh(obj)
        raise conflict(obj) from None
