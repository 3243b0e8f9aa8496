"""The database side of a backup: one consistent copy (SQLite's online backup API, or pg_dump
from an exported snapshot) and the facts read from that same copy or snapshot (row counts,
Alembic revision, the audit chain's head, the stored files the rows name); and the way back.

On PostgreSQL the counts are read in the REPEATABLE READ transaction whose snapshot pg_dump
imports (`--snapshot`), so the manifest describes exactly the rows the dump holds."""
import glob
import os
import re
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from sqlalchemy import create_engine, func, inspect, select, table, text
from sqlalchemy.pool import NullPool

from portal.audit_chain import ANCHORS, EVENTS, GENESIS
from portal.records.models import Voucher
from portal.reservations.models import ConfirmationSheet

#: the stored-file folders of an instance, by the table column that names their files
FILE_COLUMNS = {"vouchers": Voucher.__table__.c.stored_name, "sheets": ConfirmationSheet.__table__.c.stored_name}
#: Debian installs each PostgreSQL major version's client programs here
DEBIAN_PG_BIN = "/usr/lib/postgresql/*/bin"


class DatabaseError(Exception):
    """Dumping or restoring the database failed; the message says why (in Chinese)."""


@dataclass
class Facts:
    """What the manifest says about a database, and what a restore checks again."""
    tables: dict
    alembic_revision: list
    audit_head: dict
    #: folder -> stored names its rows point at (read from the same snapshot)
    files: dict = field(default_factory=dict)


@dataclass
class Dump:
    path: Path
    member: str
    dialect: str
    server_version: str | None
    facts: Facts


def read_facts(connection):
    """Row counts of every table, the Alembic revision, the audit chain's head and the stored
    files the rows name, all read through CONNECTION (one snapshot when it is in a transaction)."""
    names = sorted(inspect(connection).get_table_names())
    tables = {name: connection.scalar(select(func.count()).select_from(table(name))) for name in names}
    revision = []
    if "alembic_version" in tables:
        revision = sorted(connection.scalars(text("SELECT version_num FROM alembic_version")))
    head = {"seq": 0, "chain_hash": GENESIS}
    if EVENTS.name in tables:
        last = connection.execute(select(EVENTS.c.seq, EVENTS.c.chain_hash).where(EVENTS.c.seq.is_not(None))
                                  .order_by(EVENTS.c.seq.desc()).limit(1)).first()
        if last is None and ANCHORS.name in tables:
            last = connection.execute(select(ANCHORS.c.seq, ANCHORS.c.chain_hash)
                                      .order_by(ANCHORS.c.seq.desc()).limit(1)).first()
        if last is not None:
            head = {"seq": last.seq, "chain_hash": last.chain_hash}
    files = {folder: sorted(connection.scalars(select(column))) if column.table.name in tables else []
             for folder, column in FILE_COLUMNS.items()}
    return Facts(tables, revision, head, files)


def safe_relative(name):
    """A stored name as a relative path inside its folder, or None if it would leave it."""
    path = PurePosixPath(name or "")
    if not path.parts or path.is_absolute() or any(part in ("", ".", "..") for part in path.parts):
        return None
    return path


# -- SQLite --------------------------------------------------------------------------------

def sqlite_path(engine):
    path = engine.url.database
    if not path or path == ":memory:" or path.startswith("file:"):
        raise DatabaseError(f"无法备份或恢复这个SQLite数据库：{engine.url}")
    return Path(path).resolve()


def _dump_sqlite(engine, workdir):
    target = workdir / "portal.sqlite3"
    source = sqlite3.connect(sqlite_path(engine), timeout=60)
    copy = sqlite3.connect(target)
    try:
        # One step (pages=-1) under one read transaction: a consistent copy, and in WAL mode
        # the portal's writers go on meanwhile.
        source.backup(copy)
        copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
    finally:
        copy.close()
        source.close()
    reader = create_engine(f"sqlite:///{target}", poolclass=NullPool)
    try:
        with reader.connect() as connection:
            facts = read_facts(connection)
    finally:
        reader.dispose()
    return Dump(target, "database/portal.sqlite3", "sqlite", sqlite3.sqlite_version, facts)


def _restore_sqlite(engine, dump_file):
    target = sqlite_path(engine)
    engine.dispose()
    target.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("-wal", "-shm", "-journal"):  # an empty database's leftovers
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    incoming = target.with_name(f".{target.name}.restoring")
    shutil.copyfile(dump_file, incoming)
    os.replace(incoming, target)


# -- PostgreSQL ------------------------------------------------------------------------------

def libpq_params(engine):
    """The libpq connection string of the engine's URL (without the password) and the
    environment that carries the password, as the psycopg driver itself would connect."""
    from psycopg.conninfo import make_conninfo

    _, params = engine.dialect.create_connect_args(engine.url)
    params = {key: value for key, value in params.items() if isinstance(value, (str, int))}
    env = dict(os.environ)
    password = params.pop("password", None)
    if password is not None:
        env["PGPASSWORD"] = str(password)
    return make_conninfo("", **params), env


def _tool_major(path):
    try:
        done = subprocess.run([str(path), "--version"], capture_output=True, text=True, timeout=30)
    except OSError:
        return None
    match = re.search(r"\)\s+(\d+)", done.stdout)
    return int(match.group(1)) if match else None


def find_pg_tool(name, server_major):
    """pg_dump or pg_restore of the server's major version (Debian's versioned folders first),
    else the oldest newer one: older client programs refuse a newer server or archive."""
    candidates = []
    for bindir in sorted(glob.glob(DEBIAN_PG_BIN)):
        path = Path(bindir) / name
        if path.is_file() and os.access(path, os.X_OK) and Path(bindir).parent.name.isdigit():
            candidates.append((int(Path(bindir).parent.name), path))
    on_path = shutil.which(name)
    if on_path:
        major = _tool_major(on_path)
        if major is not None:
            candidates.append((major, Path(on_path)))
    usable = sorted((major, str(path)) for major, path in candidates if major >= server_major)
    exact = [path for major, path in usable if major == server_major]
    if exact or usable:
        return exact[0] if exact else usable[0][1]
    found = "、".join(f"{path}（{major}）" for major, path in candidates) or "无"
    raise DatabaseError(f"找不到适用于PostgreSQL {server_major}的{name}（已找到：{found}）；"
                        f"请安装 postgresql-client-{server_major}")


def _run(command, env, what):
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise DatabaseError(f"{what}失败（退出码{done.returncode}）：{done.stderr.strip()[-2000:]}")


def _dump_postgresql(engine, workdir):
    target = workdir / "portal.pgdump"
    conninfo, env = libpq_params(engine)
    with engine.connect() as connection:
        connection = connection.execution_options(isolation_level="REPEATABLE READ")
        with connection.begin():
            connection.execute(text("SET TRANSACTION READ ONLY"))
            snapshot = connection.scalar(text("SELECT pg_export_snapshot()"))
            facts = read_facts(connection)
            server = connection.dialect.server_version_info
            pg_dump = find_pg_tool("pg_dump", server[0])
            # The snapshot lives as long as this transaction: pg_dump runs inside it.
            _run([pg_dump, "--format=custom", f"--snapshot={snapshot}", f"--file={target}",
                  f"--dbname={conninfo}"], env, "pg_dump")
    version = ".".join(str(part) for part in server)
    return Dump(target, "database/portal.pgdump", "postgresql", version, facts)


def _restore_postgresql(engine, dump_file):
    conninfo, env = libpq_params(engine)
    with engine.connect() as connection:
        major = connection.dialect.server_version_info[0]
    engine.dispose()
    pg_restore = find_pg_tool("pg_restore", major)
    # The operator's role owns what it restores: the source's owners and grants name roles this
    # server may not have. One transaction: a failure leaves the database as empty as it was.
    # The audit tables' append-only triggers come after their rows (post-data), and fire only
    # on UPDATE and DELETE anyway.
    _run([pg_restore, "--no-owner", "--no-privileges", "--single-transaction", "--exit-on-error",
          f"--dbname={conninfo}", str(dump_file)], env, "pg_restore")


# -- either ----------------------------------------------------------------------------------

def dump(engine, workdir):
    """Copy the database into WORKDIR and read its facts from that same copy or snapshot."""
    if engine.dialect.name == "sqlite":
        return _dump_sqlite(engine, Path(workdir))
    if engine.dialect.name == "postgresql":
        return _dump_postgresql(engine, Path(workdir))
    raise DatabaseError(f"不支持备份{engine.dialect.name}数据库")


def existing_tables(engine):
    """The tables of the database behind ENGINE (any schema of the user's, on PostgreSQL)."""
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            return sorted(connection.scalars(text(
                "SELECT schemaname || '.' || tablename FROM pg_tables "
                "WHERE schemaname NOT IN ('pg_catalog', 'information_schema')")))
        return sorted(inspect(connection).get_table_names())


def restore(engine, dialect, dump_file):
    """Put the dumped database into the (empty) database behind ENGINE."""
    if dialect != engine.dialect.name:
        raise DatabaseError(f"备份来自{dialect}数据库，不能恢复到{engine.dialect.name}数据库")
    if dialect == "sqlite":
        _restore_sqlite(engine, dump_file)
    else:
        _restore_postgresql(engine, dump_file)
