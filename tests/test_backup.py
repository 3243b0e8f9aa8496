"""Backup and restore: a demo instance backed up while audit rows keep arriving comes back in a
fresh database and instance folder with every table's rows and every file's bytes as of the
backup's snapshot; a restore is refused into a database with tables or an instance with files,
from a tampered archive (naming the file) or under another audit key; a restore whose result
differs from the manifest fails naming the table; --keep removes the oldest archives."""
import hashlib
import io
import json
import tarfile
import threading
import time

import pytest
from sqlalchemy import MetaData, create_engine, select, text
from sqlalchemy.engine import make_url

from portal import audit
from portal.backup import backup_command, restore_command
from portal.backup.archive import folder_roots
from portal.backup.database import existing_tables, libpq_params
from portal.extensions import db


def run(app, command, *args):
    """A command through the CLI runner, as `flask --app app <command>` runs it."""
    return app.test_cli_runner().invoke(command, [str(arg) for arg in args])


def backup(app, directory, *args):
    result = run(app, backup_command, "--to", directory, *args)
    assert result.exit_code == 0, result.output
    return result.stdout.strip().splitlines()[-1]


def manifest_of(archive):
    with tarfile.open(archive, "r:gz") as tar:
        return json.loads(tar.extractfile("manifest.json").read())


def build_demo(app, *, sheets=True):
    from portal.demo import build_demo as build_units, build_demo_records, build_demo_reservations

    with app.app_context():
        build_units()
        build_demo_records(app.instance_path)
        if sheets:
            build_demo_reservations(app.instance_path, app.config["PUBLIC_BASE_URL"])
        db.session.commit()


@pytest.fixture
def empty_target(app_factory, database_url, tmp_path):
    """An app on a new, empty database (its own PostgreSQL database, dropped afterwards) and a
    new instance folder."""
    created = []
    admin_url = make_url(database_url).set(database="postgres") if database_url.startswith("postgresql") else None

    def admin(sql):
        engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text(sql))
        engine.dispose()

    def make(name="restored"):
        if admin_url is None:
            uri = f"sqlite:///{tmp_path / f'{name}.sqlite3'}"
        else:
            database = f"{make_url(database_url).database}_{name}"
            admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            admin(f'CREATE DATABASE "{database}"')
            created.append(database)
            uri = make_url(database_url).set(database=database).render_as_string(hide_password=False)
        return app_factory(SQLALCHEMY_DATABASE_URI=uri, PORTAL_INSTANCE=str(tmp_path / name))

    yield make
    for database in created:
        admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


class AuditLoad(threading.Thread):
    """Audit rows committed one by one, as requests write them, until stopped."""

    def __init__(self, app):
        super().__init__(daemon=True)
        self.app, self.written, self.error = app, 0, None
        self.stop, self.warm = threading.Event(), threading.Event()

    def run(self):
        try:
            with self.app.app_context():
                while not self.stop.is_set():
                    audit.record("login", object_ref=f"load:{self.written}", ip="10.9.8.7")
                    db.session.commit()
                    self.written += 1
                    if self.written >= 5:
                        self.warm.set()
                db.session.remove()
        except BaseException as error:  # noqa: BLE001 (reported by the test)
            self.error = error
            self.warm.set()


def all_rows(app):
    """Every table's rows, all columns, in primary-key order."""
    with app.app_context():
        metadata = MetaData()
        metadata.reflect(bind=db.engine)
        with db.engine.connect() as conn:
            return {name: conn.execute(select(table).order_by(*(table.primary_key.columns or table.columns))).all()
                    for name, table in metadata.tables.items()}


def stored_files(app):
    return {f"files/{folder}/{path.relative_to(root).as_posix()}": path
            for folder, root in folder_roots(app.instance_path).items()
            for path in (root.rglob("*") if root.is_dir() else ()) if path.is_file()}


def test_round_trip_under_load(app, empty_target, tmp_path):
    build_demo(app)
    load = AuditLoad(app)
    load.start()
    assert load.warm.wait(30) and load.error is None, load.error
    before = load.written
    archive = backup(app, tmp_path / "backups")
    during = load.written - before
    load.stop.set()
    load.join(30)
    assert load.error is None, load.error
    assert during > 0, "no audit row was written while the backup ran"

    manifest = manifest_of(archive)
    target = empty_target()
    result = run(target, restore_command, archive)
    assert result.exit_code == 0, result.output
    assert "与清单一致" in result.output and "日志完整" in result.output

    source_rows, restored_rows = all_rows(app), all_rows(target)
    assert set(restored_rows) == set(manifest["tables"]) == set(source_rows)
    head = manifest["audit_head"]["seq"]
    assert head >= before, "rows committed before the backup started are missing from its snapshot"
    assert len(source_rows["audit_event"]) > manifest["tables"]["audit_event"], "no write after the snapshot"
    for name, rows in restored_rows.items():
        expected = source_rows[name]
        if name == "audit_event":  # the load's rows after the snapshot are not in the backup
            expected = [row for row in expected if row.seq <= head]
        assert rows == expected, f"table {name} differs"
        assert len(rows) == manifest["tables"][name]

    files = {entry["path"]: entry for entry in manifest["files"] if entry["path"].startswith("files/")}
    assert any(path.startswith("files/vouchers/") for path in files)
    assert any(path.startswith("files/sheets/") for path in files)
    restored, source = stored_files(target), stored_files(app)
    assert set(restored) == set(files)
    for path, entry in files.items():
        content = restored[path].read_bytes()
        assert content == source[path].read_bytes(), path
        assert hashlib.sha256(content).hexdigest() == entry["sha256"]
    named = {f"files/vouchers/{row.stored_name}" for row in restored_rows["voucher"]} | {
        f"files/sheets/{row.stored_name}" for row in restored_rows["confirmation_sheet"]}
    assert named == set(files)


def test_restore_refuses_a_database_with_tables(app, empty_target, tmp_path):
    build_demo(app, sheets=False)
    archive = backup(app, tmp_path / "backups")
    counts = manifest_of(archive)["tables"]
    result = run(app, restore_command, archive)
    assert result.exit_code != 0
    assert "数据库不是空的" in result.output
    assert {name: len(rows) for name, rows in all_rows(app).items()} == counts


def test_restore_refuses_an_instance_with_files(app, empty_target, tmp_path):
    archive = backup(app, tmp_path / "backups")
    target = empty_target()
    left = folder_roots(target.instance_path)["sheets"] / "2025" / "old.pdf"
    left.parent.mkdir(parents=True)
    left.write_bytes(b"%PDF-1.7 left over")
    result = run(target, restore_command, archive)
    assert result.exit_code != 0
    assert "已有文件" in result.output and "sheets" in result.output
    with target.app_context():
        assert existing_tables(db.engine) == []


def rewrite(archive, out, change):
    """A copy of ARCHIVE with each member's bytes passed through CHANGE(name, data)."""
    with tarfile.open(archive, "r:gz") as source, tarfile.open(out, "w:gz") as copy:
        for info in source:
            data = change(info.name, source.extractfile(info).read())
            info.size = len(data)
            copy.addfile(info, io.BytesIO(data))
    return out


def test_tampered_voucher_is_refused_naming_it(app, empty_target, tmp_path):
    build_demo(app, sheets=False)
    archive = backup(app, tmp_path / "backups")
    victim = next(entry["path"] for entry in manifest_of(archive)["files"]
                  if entry["path"].startswith("files/vouchers/"))

    def flip_one_byte(name, data):
        return data[:-1] + bytes([data[-1] ^ 1]) if name == victim else data

    tampered = rewrite(archive, tmp_path / "tampered.tar.gz", flip_one_byte)
    target = empty_target()
    result = run(target, restore_command, tampered)
    assert result.exit_code != 0
    assert victim in result.output and "SHA-256" in result.output
    with target.app_context():
        assert existing_tables(db.engine) == []
    assert stored_files(target) == {}


def test_a_restore_that_differs_from_the_manifest_names_the_table(app, empty_target, tmp_path):
    build_demo(app, sheets=False)
    archive = backup(app, tmp_path / "backups")

    def one_record_more(name, data):
        if name != "manifest.json":
            return data
        manifest = json.loads(data)
        manifest["tables"]["purchase_record"] += 1
        return json.dumps(manifest).encode()

    changed = rewrite(archive, tmp_path / "changed.tar.gz", one_record_more)
    result = run(empty_target(), restore_command, changed)
    assert result.exit_code != 0
    assert "purchase_record" in result.output


def test_restore_refuses_another_audit_key(app, app_factory, empty_target, tmp_path):
    archive = backup(app, tmp_path / "backups")
    target = empty_target()
    other = app_factory(SQLALCHEMY_DATABASE_URI=target.config["SQLALCHEMY_DATABASE_URI"],
                        PORTAL_INSTANCE=target.instance_path, AUDIT_HMAC_KEY="another-audit-key-of-32-characters!")
    result = run(other, restore_command, archive)
    assert result.exit_code != 0
    assert "AUDIT_HMAC_KEY" in result.output


def test_keep_removes_the_oldest_archives(app, tmp_path):
    directory = tmp_path / "backups"
    made = []
    for _ in range(3):
        made.append(backup(app, directory, "--keep", "2"))
        time.sleep(0.01)
    left = sorted(str(path) for path in directory.iterdir())
    assert left == sorted(made[1:])
    assert made[0] < made[1] < made[2]


def test_libpq_parameters_keep_the_password_out_of_the_command_line():
    engine = create_engine("postgresql+psycopg://operator:s3cret%20x@db.example:5433/portal?sslmode=require")
    conninfo, env = libpq_params(engine)
    assert "s3cret" not in conninfo
    assert env["PGPASSWORD"] == "s3cret x"
    for part in ("host=db.example", "port=5433", "dbname=portal", "user=operator", "sslmode=require"):
        assert part in conninfo
