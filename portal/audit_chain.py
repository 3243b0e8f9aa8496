"""The audit trail's hash chain (HMAC-SM3, keyed by AUDIT_HMAC_KEY): every new row is stamped
with its position and a keyed hash of its content and the previous row's hash as it is flushed;
`verify` walks the chain and names the first changed, inserted or missing row; `archive` moves
rows older than the retention period to a signed file and leaves an anchor the chain starts from.

The canonical form of a row (`canonical`) is a contract with every row already written: change
it and every existing chain reads as tampered.
"""
import hmac
import json
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import event, select, text
from sqlalchemy.orm import Session

from portal.audit import AuditAnchor, AuditEvent
from portal.clock import utcnow

#: the one PostgreSQL advisory lock every append takes, until its transaction ends
LOCK_ID = 0x61756469
#: the "previous hash" of the very first row
GENESIS = ""
FIELDS = ("seq", "at", "account_id", "unit_id", "action", "object_ref", "result", "ip", "detail")
EVENTS = AuditEvent.__table__
ANCHORS = AuditAnchor.__table__
#: PostgreSQL setting a transaction turns on (locally) to remove archived rows; the trigger of
#: migration 0008a checks it, and the database's own 180-day floor
ARCHIVE_FLAG = "portal.audit_archive"


def key_bytes(key=None):
    key = current_app.config["AUDIT_HMAC_KEY"] if key is None else key
    return key.encode("utf-8") if isinstance(key, str) else key


def sm3_mac(key, message):
    return hmac.new(key, message, "sm3").hexdigest()


def _stamp_time(value):
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f") if value is not None else None


def canonical(row, prev_hash):
    """The bytes a row's hash covers: its content in a fixed order, then the previous hash."""
    values = [getattr(row, name) for name in FIELDS]
    values[1] = _stamp_time(values[1])
    return json.dumps([*values, prev_hash], ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def entry_hash(key, row, prev_hash):
    return sm3_mac(key, canonical(row, prev_hash))


def anchor_mac(key, anchor):
    message = [anchor.seq, anchor.chain_hash, anchor.rows, anchor.archive, anchor.signature,
               _stamp_time(anchor.created_at)]
    return sm3_mac(key, json.dumps(message, separators=(",", ":")).encode("utf-8"))


#: where a session keeps the head it read under the lock: (its transaction, (seq, hash))
HEAD_KEY = "audit_head"


def lock_head(connection):
    """Serialise appends, then read the chain's last (position, hash).

    PostgreSQL: a transaction-level advisory lock, held until commit or rollback. SQLite lets
    one writer at a time but begins a transaction lazily: a zero-row UPDATE takes the write lock
    before the read, so that the read sees the newest row and no other writer slips in."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:lock)"), {"lock": LOCK_ID})
    else:
        connection.execute(text("UPDATE audit_event SET seq = seq WHERE 0 = 1"))
    last = connection.execute(select(EVENTS.c.seq, EVENTS.c.chain_hash).where(EVENTS.c.seq.is_not(None))
                              .order_by(EVENTS.c.seq.desc()).limit(1)).first()
    if last is None:
        last = connection.execute(select(ANCHORS.c.seq, ANCHORS.c.chain_hash)
                                  .order_by(ANCHORS.c.seq.desc()).limit(1)).first()
    return (last.seq, last.chain_hash) if last is not None else (0, GENESIS)


def _transaction_of(session):
    return session.get_transaction(), session.get_nested_transaction()


def head_of(session):
    """lock_head for an ORM session, once per transaction (or savepoint): the lock holds until
    the transaction ends and only this transaction's own appends move the head (stamp keeps it
    here), so a transition that locked early (concurrency.check_version) does not read it twice."""
    held = session.info.get(HEAD_KEY)
    if held is None or held[0] != _transaction_of(session):
        held = (_transaction_of(session), lock_head(session.connection()))
        session.info[HEAD_KEY] = held
    return held[1]


@event.listens_for(Session, "before_flush")
def stamp(session, flush_context, instances):
    """Chain the audit rows of this flush onto the newest row, inside the write transaction."""
    new = [obj for obj in session.new if isinstance(obj, AuditEvent) and obj.chain_hash is None]
    if not new:
        return
    seq, prev = head_of(session)
    key = key_bytes()
    for obj in new:
        obj.at = obj.at or utcnow()
        obj.result = obj.result or "ok"
        seq += 1
        obj.seq = seq
        obj.chain_hash = prev = entry_hash(key, obj, prev)
    session.info[HEAD_KEY] = (_transaction_of(session), (seq, prev))


@dataclass
class Verdict:
    ok: bool
    checked: int
    message: str
    #: the position and id of the first broken row, if any
    seq: int | None = None
    event_id: int | None = None
    #: the newest entry checked, (position, hash): kept outside the database as a witness
    head: tuple | None = None


def _latest_anchor(session):
    return session.scalar(select(AuditAnchor).order_by(AuditAnchor.seq.desc()).limit(1))


def verify(session, key=None):
    """Walk the chain from its anchor (or its start) and name the first broken row."""
    key = key_bytes(key)
    seq, prev = 0, GENESIS
    anchor = _latest_anchor(session)
    if anchor is not None:
        if not hmac.compare_digest(anchor_mac(key, anchor), anchor.mac):
            return Verdict(False, 0, f"归档锚点（编号{anchor.id}）被修改，无法确定日志起点")
        seq, prev = anchor.seq, anchor.chain_hash
    checked = 0
    rows = session.execute(select(EVENTS.c.id, EVENTS.c.chain_hash, *(EVENTS.c[name] for name in FIELDS))
                           .where(EVENTS.c.seq.is_not(None)).order_by(EVENTS.c.seq, EVENTS.c.id)
                           .execution_options(yield_per=2000))
    for row in rows:
        expected = seq + 1
        if row.seq < expected:
            return Verdict(False, checked, f"第{row.seq}条日志（编号{row.id}）是插入的，与已有日志重复了位置",
                           row.seq, row.id)
        if row.seq > expected:
            missing = f"第{expected}条" if row.seq == expected + 1 else f"第{expected}至第{row.seq - 1}条"
            return Verdict(False, checked, f"{missing}日志缺失（在编号{row.id}的日志之前）", expected, row.id)
        if not hmac.compare_digest(entry_hash(key, row, prev), row.chain_hash or ""):
            return Verdict(False, checked, f"第{row.seq}条日志（编号{row.id}）内容被修改", row.seq, row.id)
        seq, prev, checked = row.seq, row.chain_hash, checked + 1
    stray = session.scalar(select(EVENTS.c.id).where(EVENTS.c.seq.is_(None)).order_by(EVENTS.c.id).limit(1))
    if stray is not None:
        return Verdict(False, checked, f"编号{stray}的日志是插入的，不在日志链中", None, stray)
    if not checked:
        return Verdict(True, 0, "日志完整：没有需要校验的日志", head=(seq, prev) if seq else None)
    first = seq - checked + 1
    return Verdict(True, checked, f"日志完整：已校验第{first}至第{seq}条，共{checked}条", head=(seq, prev))


def check_witness(session, verdict, witness):
    """A chain that verifies may still have lost its newest entries (deleted from the end, the
    rest is intact). A witness, the head an earlier check saw and kept outside the database,
    tells: that entry must still be there, with the same hash, or be covered by an archive."""
    if not verdict.ok or witness is None:
        return verdict
    seq, chain_hash = witness
    head_seq = verdict.head[0] if verdict.head else 0
    if head_seq < seq:
        return Verdict(False, verdict.checked, f"第{head_seq + 1}至第{seq}条日志缺失（日志末尾被删除）", head_seq + 1)
    anchor = _latest_anchor(session)
    if anchor is not None and anchor.seq >= seq:
        return verdict  # archived since: the signed archive holds it
    kept = session.scalar(select(EVENTS.c.chain_hash).where(EVENTS.c.seq == seq))
    if not hmac.compare_digest(kept or "", chain_hash):
        return Verdict(False, verdict.checked, f"第{seq}条日志与上次校验时不同（日志被改写）", seq)
    return verdict


def read_witness(path):
    try:
        seq, chain_hash = Path(path).read_text(encoding="ascii").split()
        return int(seq), chain_hash
    except FileNotFoundError:
        return None
    except ValueError as error:
        raise click.ClickException(f"见证文件 {path} 无法读取") from error


def write_witness(path, head):
    path = Path(path)
    partial = path.with_name(path.name + ".part")
    partial.write_text(f"{head[0]} {head[1]}\n", encoding="ascii")
    partial.replace(path)


class ArchiveRefused(Exception):
    """The chain is broken: archiving would carry the break into a signed file."""


@dataclass
class Archived:
    rows: int
    path: Path | None = None
    first_seq: int | None = None
    last_seq: int | None = None


def _archive_line(row):
    values = {name: getattr(row, name) for name in ("id", *FIELDS, "chain_hash")}
    values["at"] = _stamp_time(values["at"])
    return json.dumps(values, ensure_ascii=False, separators=(",", ":"))


def archive(session, directory, *, retention_days, key=None, now=None):
    """Export the rows older than the retention period to DIRECTORY (JSON lines and a signature)
    and remove them, leaving an anchor; the caller commits. Only a prefix of the chain goes, and
    only rows older than the retention period."""
    key = key_bytes(key)
    verdict = verify(session, key)
    if not verdict.ok:
        raise ArchiveRefused(verdict.message)
    connection = session.connection()
    lock_head(connection)
    cutoff = (now or utcnow()) - timedelta(days=retention_days)
    young = session.scalar(select(EVENTS.c.seq).where(EVENTS.c.at >= cutoff).order_by(EVENTS.c.seq).limit(1))
    query = select(EVENTS).where(EVENTS.c.seq.is_not(None)).order_by(EVENTS.c.seq)
    if young is not None:
        query = query.where(EVENTS.c.seq < young)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    signer, count, first, last = hmac.new(key, digestmod="sm3"), 0, None, None
    partial = directory / "audit-archive.partial"
    with partial.open("wb") as out:
        for row in session.execute(query.execution_options(yield_per=2000)):
            line = (_archive_line(row) + "\n").encode("utf-8")
            signer.update(line)
            out.write(line)
            first = first if first is not None else row
            last, count = row, count + 1
    if not count:
        partial.unlink()
        return Archived(0)
    name = f"audit-archive-{first.seq:010d}-{last.seq:010d}.jsonl"
    partial.replace(directory / name)
    signature = signer.hexdigest()
    (directory / f"{name}.sig").write_text(json.dumps({
        "file": name, "algorithm": "HMAC-SM3", "signature": signature, "rows": count,
        "first_seq": first.seq, "last_seq": last.seq, "anchor_hash": last.chain_hash,
    }, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    anchor = AuditAnchor(created_at=utcnow(), seq=last.seq, chain_hash=last.chain_hash, rows=count,
                         archive=name, signature=signature, mac="")
    anchor.mac = anchor_mac(key, anchor)
    session.add(anchor)
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT set_config(:flag, 'on', true)"), {"flag": ARCHIVE_FLAG})
    connection.execute(EVENTS.delete().where(EVENTS.c.seq <= last.seq))
    return Archived(count, directory / name, first.seq, last.seq)


def verify_archive(path, key=None):
    """Whether an archive file matches its signature file (path.sig)."""
    path = Path(path)
    meta = json.loads(Path(f"{path}.sig").read_text(encoding="utf-8"))
    actual = sm3_mac(key_bytes(key), path.read_bytes())
    return hmac.compare_digest(actual, meta["signature"])


@click.command("audit-verify")
@click.option("--witness", type=click.Path(dir_okay=False),
              help="见证文件：记录上次校验到的最新日志（保存在数据库之外），用于发现末尾日志被删除")
@with_appcontext
def audit_verify_command(witness):
    """Check the audit trail's hash chain; exit 1 naming the first broken entry."""
    from portal.extensions import db

    verdict = verify(db.session)
    if witness:
        verdict = check_witness(db.session, verdict, read_witness(witness))
    db.session.rollback()
    if verdict.ok:
        if witness and verdict.head:
            write_witness(witness, verdict.head)
        click.echo(verdict.message)
        return
    click.echo(f"日志校验失败：{verdict.message}", err=True)
    raise SystemExit(1)


@click.command("audit-archive")
@click.option("--to", "directory", required=True, type=click.Path(file_okay=False), help="归档目录")
@with_appcontext
def audit_archive_command(directory):
    """Archive and remove audit entries older than AUDIT_RETENTION_DAYS."""
    from portal import audit
    from portal.extensions import db

    days = current_app.config["AUDIT_RETENTION_DAYS"]
    try:
        done = archive(db.session, directory, retention_days=days)
    except ArchiveRefused as refused:
        db.session.rollback()
        raise click.ClickException(f"日志链已损坏，未归档：{refused}") from None
    if not done.rows:
        db.session.rollback()
        click.echo(f"没有早于{days}天的日志，无需归档。")
        return
    audit.record("audit_archived", object_ref=f"archive:{done.path.name}"[:60],
                 detail={"rows": done.rows, "first": done.first_seq, "last": done.last_seq})
    db.session.commit()
    click.echo(f"已归档第{done.first_seq}至第{done.last_seq}条日志（共{done.rows}条）到 {done.path}")
