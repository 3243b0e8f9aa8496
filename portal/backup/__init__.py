"""Backup and restore of an instance: `flask backup --to DIR [--keep N]` writes one archive of
the database (SQLite's online backup, or pg_dump of one snapshot) and the vouchers and sheets
while the portal serves; `flask restore ARCHIVE` puts it into an empty database and instance
and checks it against its manifest. The work is in archive.py and database.py, plain
functions under an application context."""
import click
from flask.cli import with_appcontext

from portal.backup.archive import RestoreMismatch, RestoreRefused, create_backup, prune, restore_backup
from portal.backup.database import DatabaseError

__all__ = ["backup_command", "restore_command", "create_backup", "restore_backup", "prune",
           "RestoreRefused", "RestoreMismatch", "DatabaseError"]


@click.command("backup")
@click.option("--to", "directory", required=True, type=click.Path(file_okay=False), help="备份目录")
@click.option("--keep", type=click.IntRange(min=1), default=None, help="只保留最新的N个备份，删除更早的")
@with_appcontext
def backup_command(directory, keep):
    """Write one archive of the database, vouchers and sheets; print its path."""
    try:
        done = create_backup(directory, keep=keep)
    except DatabaseError as error:
        raise click.ClickException(f"备份失败：{error}") from None
    for warning in done.warnings:
        click.echo(f"注意：{warning}", err=True)
    for path in done.removed:
        click.echo(f"已删除旧备份 {path}", err=True)
    tables = done.manifest["tables"]
    click.echo(f"已备份{len(tables)}张表（{sum(tables.values())}行）、"
               f"{len(done.manifest['files']) - 1}个文件", err=True)
    click.echo(str(done.path))


@click.command("restore")
@click.argument("archive", type=click.Path(exists=True, dir_okay=False))
@with_appcontext
def restore_command(archive):
    """Restore an archive into an empty database and instance, then verify it."""
    try:
        done = restore_backup(archive)
    except RestoreRefused as refused:
        raise click.ClickException(f"拒绝恢复：{refused}") from None
    except RestoreMismatch as mismatch:
        raise click.ClickException(f"恢复后校验失败：{mismatch}") from None
    for warning in done.warnings:
        click.echo(f"注意：{warning}", err=True)
    tables = done.manifest["tables"]
    click.echo(f"已恢复 {archive}（{done.manifest['created_at']}）：{len(tables)}张表、"
               f"{sum(tables.values())}行、{len(done.manifest['files']) - 1}个文件，与清单一致；{done.audit_message}")
