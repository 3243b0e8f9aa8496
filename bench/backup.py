"""Backup and restore benchmark: the records benchmark's database (the demo tree and N purchase
records, built as bench.records builds it), backed up and restored through the commands an
operator runs.

    python -m bench.backup                       # 1,000,000 records on SQLite in a temporary folder
    python -m bench.backup --records 20000
    python -m bench.backup --database-url postgresql+psycopg://postgres@127.0.0.1/portal_bench_backup

backup_s is `flask --app app backup --to DIR` as a process of its own (start, the database copy,
the row counts of the manifest, gzip, SHA-256 of every file, fsync); restore_s is `flask --app app
restore ARCHIVE` into a new empty database and instance folder (hash check of the archive,
extraction, the database, the row counts and the audit chain checked again). The floors, in the
same run, are the database tool alone on the same database: SQLite's online backup API and a
file copy, or pg_dump --format=custom and pg_restore --single-transaction; cli_start_s is the
same `flask` starting and doing nothing (`flask --app app routes`); *_work_vs_floor is a
command's time less that start, over its floor. load_1m is the load average before each step.

On PostgreSQL the database named in the URL is created if it does not exist (and then dropped at
the end); the restore targets <name>_restore and <name>_floor are always created and dropped.
The load average is noted around each step, as the machine may be running other work. The last
line printed is one JSON object.
"""
import argparse
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from bench.common import reset_to_demo
from portal import create_app
from portal.extensions import db

FLASK = str(Path(sys.executable).with_name("flask"))
PROJECT = Path(__file__).resolve().parent.parent
MB = 1024 * 1024


def _load():
    return round(os.getloadavg()[0], 2)


def _mb(size):
    return round(size / MB, 1)


# -- PostgreSQL databases of our own ---------------------------------------------------------

def _admin_engine(url):
    return create_engine(url.set(database="postgres"), poolclass=NullPool, isolation_level="AUTOCOMMIT")


def _exists(url):
    with _admin_engine(url).connect() as connection:
        return connection.scalar(text("SELECT 1 FROM pg_database WHERE datname = :name"),
                                 {"name": url.database}) is not None


def _create(url):
    with _admin_engine(url).connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{url.database}"'))


def _drop(url):
    with _admin_engine(url).connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))


# -- the database ----------------------------------------------------------------------------

def build(app, records, seed):
    """The demo tree and `records` purchase records, as bench.records builds them."""
    from bench.records import _context, add_records

    with app.app_context():
        reset_to_demo()
        db.session.commit()
        add_records(records, random.Random(seed), _context())
        db.session.remove()
        db.engine.dispose()


def database_bytes(url):
    engine = create_engine(url, poolclass=NullPool)
    try:
        if engine.dialect.name == "postgresql":
            with engine.connect() as connection:
                return connection.scalar(select(func.pg_database_size(url.database)))
        return sum(Path(f"{url.database}{suffix}").stat().st_size for suffix in ("", "-wal")
                   if Path(f"{url.database}{suffix}").exists())
    finally:
        engine.dispose()


def count_records(url):
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return connection.scalar(text("SELECT count(*) FROM purchase_record"))
    finally:
        engine.dispose()


# -- the commands and the floors -------------------------------------------------------------

@contextmanager
def stopwatch(into, key):
    into.setdefault("load_1m", {})[key.removesuffix("_s")] = _load()
    started = time.perf_counter()
    yield
    into[key] = round(time.perf_counter() - started, 2)


def flask(args, url, instance):
    """`flask --app app ARGS` as the operator runs it, with the instance's settings; its stdout."""
    env = {**os.environ, "DATABASE_URL": url.render_as_string(hide_password=False), "PORTAL_INSTANCE": str(instance)}
    done = subprocess.run([FLASK, "--app", "app", *args], cwd=PROJECT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"flask {' '.join(args)} failed ({done.returncode}): {done.stderr[-2000:]}")
    return done.stdout


def floor_sqlite(url, workdir, result):
    copy = workdir / "floor.sqlite3"
    with stopwatch(result, "floor_backup_s"):
        source, target = sqlite3.connect(url.database), sqlite3.connect(copy)
        try:
            source.backup(target)
        finally:
            target.close()
            source.close()
    with stopwatch(result, "floor_restore_s"):
        shutil.copyfile(copy, workdir / "floor-restored.sqlite3")
    result["floor_dump_mb"] = _mb(copy.stat().st_size)


def floor_postgresql(url, workdir, result):
    from portal.backup.database import find_pg_tool, libpq_params

    engine = create_engine(url, poolclass=NullPool)
    target_url = url.set(database=f"{url.database}_floor")
    _create(target_url)
    try:
        with engine.connect() as connection:
            major = connection.dialect.server_version_info[0]
        conninfo, env = libpq_params(engine)
        dump = workdir / "floor.pgdump"
        with stopwatch(result, "floor_backup_s"):
            subprocess.run([find_pg_tool("pg_dump", major), "--format=custom", f"--file={dump}",
                            f"--dbname={conninfo}"], env=env, check=True)
        target = create_engine(target_url, poolclass=NullPool)
        target_info, target_env = libpq_params(target)
        target.dispose()
        with stopwatch(result, "floor_restore_s"):
            subprocess.run([find_pg_tool("pg_restore", major), "--no-owner", "--no-privileges",
                            "--single-transaction", "--exit-on-error", f"--dbname={target_info}", str(dump)],
                           env=target_env, check=True)
        result["floor_dump_mb"] = _mb(dump.stat().st_size)
    finally:
        engine.dispose()
        _drop(target_url)


def run(args):
    workdir = Path(tempfile.mkdtemp(prefix="bench-backup-"))
    url = make_url(args.database_url or f"sqlite:///{workdir}/bench.sqlite3")
    postgresql = url.get_backend_name() == "postgresql"
    restore_url = url.set(database=f"{url.database}_restore") if postgresql \
        else url.set(database=str(workdir / "restored" / "portal.sqlite3"))
    made_source = postgresql and not _exists(url)
    if made_source:
        _create(url)
    result = {"records": args.records, "database": url.get_backend_name(), "cpus": os.cpu_count(),
              "load_1m": {"start": _load()}}
    source_instance, restored_instance = workdir / "instance", workdir / "restored"
    try:
        app = create_app({"SQLALCHEMY_DATABASE_URI": url.render_as_string(hide_password=False),
                          "PORTAL_INSTANCE": str(source_instance)})
        started = time.perf_counter()
        build(app, args.records, args.seed)
        result["build_s"] = round(time.perf_counter() - started, 1)
        result["database_mb"] = _mb(database_bytes(url))

        with stopwatch(result, "cli_start_s"):
            flask(["routes"], url, source_instance)
        with stopwatch(result, "backup_s"):
            archive = Path(flask(["backup", "--to", str(workdir / "backups")], url, source_instance).strip())
        result["archive_mb"] = _mb(archive.stat().st_size)

        if postgresql:
            _create(restore_url)
        with stopwatch(result, "restore_s"):
            flask(["restore", str(archive)], restore_url, restored_instance)
        restored = count_records(restore_url)
        assert restored == count_records(url) == args.records, (restored, args.records)

        (floor_postgresql if postgresql else floor_sqlite)(url, workdir, result)
        # the command's own work (its time less a bare start) over the tool's
        for step in ("backup", "restore"):
            work = max(result[f"{step}_s"] - result["cli_start_s"], 0)
            result[f"{step}_work_vs_floor"] = round(work / max(result[f"floor_{step}_s"], 0.01), 1)
        result["load_1m"]["end"] = _load()
    finally:
        if postgresql:
            _drop(restore_url)
            if made_source:
                _drop(url)
        shutil.rmtree(workdir, ignore_errors=True)
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=20241, help="the records' random seed (bench.records's)")
    parser.add_argument("--database-url", help="default: a temporary SQLite file")
    args = parser.parse_args(argv)
    result = run(args)
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
