"""One backup archive (tar, gzip) of an instance: the database copy, the vouchers and sheets
its rows name, and manifest.json (written last) with every file's SHA-256 and size, every
table's row count, the Alembic revision and the audit chain's head. Written under a hidden
temporary name and renamed when complete; restored only into an empty database and instance,
after every file's hash is checked, and checked again afterwards."""
import hashlib
import io
import json
import os
import re
import shutil
import tarfile
import tempfile
import zlib
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from flask import current_app

from portal import storage
from portal.audit_chain import key_bytes, sm3_mac, verify
from portal.backup import database
from portal.clock import utcnow
from portal.crypto import parse_keys
from portal.extensions import db

FORMAT = "portal-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
MANIFEST_KEYS = ("created_at", "database", "alembic_revision", "tables", "audit_head", "audit_key_check",
                 "data_key_ids", "files", "missing_files")
ARCHIVE_PATTERN = re.compile(r"portal-backup-\d{8}T\d{6}\.\d{6}Z\.tar\.gz")
#: gzip's fastest level: the vouchers and a pg_dump archive are compressed already
COMPRESS_LEVEL = 1
CHUNK = 1024 * 1024
#: a message of the audit key, so that a restore under another key is refused before it starts
KEY_CHECK = b"portal-backup:audit-key"


class RestoreRefused(Exception):
    """Nothing was restored: the target is not empty or the archive is not what its manifest says."""


class RestoreMismatch(Exception):
    """The restored database does not match the manifest (or its audit chain is broken)."""


@dataclass
class Backup:
    path: Path
    manifest: dict
    removed: list = field(default_factory=list)
    warnings: list = field(default_factory=list)


@dataclass
class Restored:
    manifest: dict
    audit_message: str
    warnings: list = field(default_factory=list)


def folder_roots(instance_path):
    """The folders of the files a backup holds: FILES_DIR's (the shared mount) when it is set,
    else the instance folder's (portal/storage.py)."""
    return {kind: storage.store(kind, instance_path).root for kind in storage.BACKED_UP}


def archive_name(now):
    return f"portal-backup-{now:%Y%m%dT%H%M%S.%f}Z.tar.gz"


def portal_version():
    try:
        return metadata.version("portal")
    except metadata.PackageNotFoundError:
        return "unknown"


class _Hashing(io.RawIOBase):
    """A read-only stream that hashes what passes through it."""

    def __init__(self, stream):
        self.stream, self.digest, self.size = stream, hashlib.sha256(), 0

    def readable(self):
        return True

    def read(self, size=-1):
        data = self.stream.read(size)
        self.digest.update(data)
        self.size += len(data)
        return data


def _add_file(tar, path, member):
    with open(path, "rb") as stream:
        info = tar.gettarinfo(fileobj=stream, arcname=member)
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.mode = 0o644
        hashing = _Hashing(stream)
        tar.addfile(info, hashing)
    return {"path": member, "sha256": hashing.digest.hexdigest(), "size": hashing.size}


def _add_bytes(tar, member, content, mtime):
    info = tarfile.TarInfo(member)
    info.size, info.mtime, info.mode = len(content), mtime, 0o644
    tar.addfile(info, io.BytesIO(content))


def _fsync(path):
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def create_backup(directory, *, keep=None, now=None):
    """Write one archive of the app's database and files into DIRECTORY; with KEEP, then remove
    the oldest archives there beyond that many."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    now = now or utcnow()
    final = directory / archive_name(now)
    partial = directory / f".{final.name}.part"
    warnings = []
    with tempfile.TemporaryDirectory(prefix=".portal-backup-", dir=directory) as work:
        dump = database.dump(db.engine, work)
        files, missing = [], []
        try:
            with tarfile.open(partial, "w:gz", compresslevel=COMPRESS_LEVEL) as tar:
                files.append(_add_file(tar, dump.path, dump.member))
                for folder, root in folder_roots(current_app.instance_path).items():
                    for name in dump.facts.files[folder]:
                        relative = database.safe_relative(name)
                        try:
                            if relative is None:
                                raise FileNotFoundError(name)
                            files.append(_add_file(tar, root / relative, f"files/{folder}/{relative}"))
                        except FileNotFoundError:
                            # removed since the snapshot, or lost before it
                            missing.append(f"{folder}/{name}")
                manifest = {
                    "format": FORMAT, "format_version": FORMAT_VERSION,
                    "created_at": f"{now:%Y-%m-%dT%H:%M:%S.%f}Z",
                    "portal_version": portal_version(),
                    "database": {"dialect": dump.dialect, "server_version": dump.server_version,
                                 "file": dump.member},
                    "alembic_revision": dump.facts.alembic_revision,
                    "tables": dump.facts.tables,
                    "audit_head": dump.facts.audit_head,
                    "audit_key_check": sm3_mac(key_bytes(), KEY_CHECK),
                    "data_key_ids": list(parse_keys(current_app.config["DATA_KEYS"])),
                    "files": files,
                    "missing_files": missing,
                }
                content = json.dumps(manifest, ensure_ascii=False, indent=1).encode("utf-8")
                _add_bytes(tar, MANIFEST, content, int(now.timestamp()))
            _fsync(partial)
            os.replace(partial, final)
            _fsync(directory)
        finally:
            partial.unlink(missing_ok=True)
    if missing:
        warnings.append(f"{len(missing)}个文件在备份时已不存在：{'、'.join(missing[:5])}")
    return Backup(final, manifest, prune(directory, keep) if keep else [], warnings)


def prune(directory, keep):
    """Remove the oldest archives in DIRECTORY beyond the newest KEEP; return their paths."""
    archives = sorted(path for path in Path(directory).iterdir()
                      if path.is_file() and ARCHIVE_PATTERN.fullmatch(path.name))
    removed = archives[:-keep] if keep < len(archives) else []
    for path in removed:
        path.unlink()
    return removed


# -- restore ---------------------------------------------------------------------------------

def _refuse_unless_empty(instance_path):
    tables = database.existing_tables(db.engine)
    if tables:
        shown = "、".join(tables[:5]) + ("等" if len(tables) > 5 else "")
        raise RestoreRefused(f"数据库不是空的（已有{len(tables)}张表：{shown}）：只能恢复到新建的空数据库")
    for root in folder_roots(instance_path).values():
        if root.is_dir() and any(path.is_file() for path in root.rglob("*")):
            raise RestoreRefused(f"{root} 中已有文件：只能恢复到空的实例目录")


def _destination(member, manifest, roots, workdir):
    """Where a member of the archive goes, or None if it has no place there."""
    if member == manifest["database"]["file"]:
        return Path(workdir) / "database"
    parts = member.split("/", 2)
    if len(parts) == 3 and parts[0] == "files" and parts[1] in roots:
        relative = database.safe_relative(parts[2])
        if relative is not None:
            return roots[parts[1]] / relative
    return None


def _members(archive):
    """(member, its bytes in chunks) for every member of ARCHIVE, refusing a damaged archive."""
    try:
        with tarfile.open(archive, "r:*") as tar:
            for info in tar:
                if not info.isfile():
                    raise RestoreRefused(f"备份中的 {info.name} 不是普通文件：备份被改动过")
                yield info.name, tar.extractfile(info)
    except (tarfile.TarError, EOFError, zlib.error) as error:
        raise RestoreRefused(f"无法读取备份 {archive}（已损坏或不完整）：{error}") from None


def _copy(stream, out=None):
    digest, size = hashlib.sha256(), 0
    while chunk := stream.read(CHUNK):
        digest.update(chunk)
        size += len(chunk)
        if out is not None:
            out.write(chunk)
    return {"sha256": digest.hexdigest(), "size": size}


def _scan(archive):
    """The manifest and every other member's SHA-256 and size, in one read of the archive."""
    found, manifest = {}, None
    for name, stream in _members(archive):
        if name in found or (name == MANIFEST and manifest is not None):
            raise RestoreRefused(f"备份中的 {name} 出现了两次：备份被改动过")
        if name == MANIFEST:
            try:
                manifest = json.loads(stream.read().decode("utf-8"))
            except ValueError:
                raise RestoreRefused(f"{archive} 的 {MANIFEST} 无法读取") from None
        else:
            found[name] = _copy(stream)
    if manifest is None:
        raise RestoreRefused(f"{archive} 中没有 {MANIFEST}：不是门户的备份")
    if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
        raise RestoreRefused(f"{archive} 不是本版本门户可以恢复的备份")
    absent = [key for key in MANIFEST_KEYS if key not in manifest]
    listed = {entry.get("path") for entry in manifest.get("files", ())}
    if absent or manifest["database"].get("file") not in listed:
        raise RestoreRefused(f"{archive} 的 {MANIFEST} 不完整（缺少{'、'.join(absent) or '数据库文件'}）")
    return manifest, found


def _check(manifest, found, roots):
    """Refuse unless the members are exactly the manifest's files, each with its hash and size."""
    expected = {entry["path"]: entry for entry in manifest["files"]}
    for name, seen in found.items():
        if name not in expected or _destination(name, manifest, roots, ".") is None:
            raise RestoreRefused(f"备份中的 {name} 不在清单中：备份被改动过")
        if (seen["sha256"], seen["size"]) != (expected[name]["sha256"], expected[name]["size"]):
            raise RestoreRefused(f"文件 {name} 与备份清单不符（SHA-256或大小不同）：备份已损坏或被改动")
    absent = sorted(set(expected) - set(found))
    if absent:
        raise RestoreRefused(f"备份缺少清单中的文件：{'、'.join(absent[:5])}")


def _extract(archive, manifest, roots, workdir):
    """Write every member to its place, checking its hash again as it is written."""
    expected = {entry["path"]: entry for entry in manifest["files"]}
    for name, stream in _members(archive):
        if name == MANIFEST:
            continue
        target = _destination(name, manifest, roots, workdir)
        if name not in expected or target is None:
            raise RestoreRefused(f"备份中的 {name} 不在清单中：备份在恢复期间被改动")
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "wb") as out:
            written = _copy(stream, out)
        if (written["sha256"], written["size"]) != (expected[name]["sha256"], expected[name]["size"]):
            raise RestoreRefused(f"文件 {name} 与备份清单不符：备份在恢复期间被改动")


def _clear(roots):
    """Remove what a failed restore wrote into the (previously empty) file folders."""
    for root in roots.values():
        shutil.rmtree(root, ignore_errors=True)


def _differences(manifest):
    with db.engine.connect() as connection:
        facts = database.read_facts(connection)
    problems = []
    for name in sorted(set(manifest["tables"]) | set(facts.tables)):
        want, got = manifest["tables"].get(name), facts.tables.get(name)
        if want != got:
            problems.append(f"表 {name}：清单{'无此表' if want is None else f'{want}行'}，"
                            f"恢复后{'无此表' if got is None else f'{got}行'}")
    if facts.alembic_revision != manifest["alembic_revision"]:
        problems.append(f"数据库版本（Alembic）：清单{manifest['alembic_revision']}，恢复后{facts.alembic_revision}")
    if facts.audit_head != manifest["audit_head"]:
        problems.append(f"日志链末条：清单第{manifest['audit_head']['seq']}条，恢复后第{facts.audit_head['seq']}条"
                        f"（或其哈希不同）")
    return problems


def restore_backup(archive):
    """Restore ARCHIVE into the app's empty database and instance folders, then check it."""
    archive = Path(archive)
    instance_path = current_app.instance_path
    roots = folder_roots(instance_path)
    _refuse_unless_empty(instance_path)
    manifest, found = _scan(archive)
    _check(manifest, found, roots)  # nothing is written before every file is checked
    dialect = manifest["database"]["dialect"]
    if dialect != db.engine.dialect.name:
        raise RestoreRefused(f"备份来自{dialect}数据库，不能恢复到{db.engine.dialect.name}数据库")
    if manifest["audit_key_check"] != sm3_mac(key_bytes(), KEY_CHECK):
        raise RestoreRefused("当前的 AUDIT_HMAC_KEY 与备份时不同，恢复后日志链将无法校验：请使用备份时的密钥")
    warnings = []
    missing_keys = set(manifest["data_key_ids"]) - set(parse_keys(current_app.config["DATA_KEYS"]))
    if missing_keys:
        warnings.append(f"DATA_KEYS 缺少备份时的密钥 {'、'.join(sorted(missing_keys))}：用它加密的数据将无法读取")
    if manifest["missing_files"]:
        warnings.append(f"备份时已不存在的{len(manifest['missing_files'])}个文件未能恢复："
                        f"{'、'.join(manifest['missing_files'][:5])}")
    with tempfile.TemporaryDirectory(prefix=".portal-restore-", dir=instance_path) as work:
        try:
            _extract(archive, manifest, roots, work)
            database.restore(db.engine, dialect, Path(work) / "database")
        except database.DatabaseError as error:
            _clear(roots)
            raise RestoreMismatch(f"数据库恢复失败，文件已移除：{error}") from None
        except BaseException:
            _clear(roots)
            raise
    problems = _differences(manifest)
    verdict = verify(db.session)
    db.session.rollback()
    if not verdict.ok:
        problems.append(f"日志链校验失败：{verdict.message}")
    if problems:
        raise RestoreMismatch("；".join(problems))
    return Restored(manifest, verdict.message, warnings)
