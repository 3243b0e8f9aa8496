"""Commands: init-db, create-admin, demo, disable-dormant, rotate-keys; the audit trail's and the
backup's own commands are registered here too."""
import click
from flask import current_app
from flask.cli import with_appcontext
from flask_migrate import upgrade
from sqlalchemy import select

from portal.accounts import service
from portal.accounts.kinds import AdminRole
from portal.accounts.models import Account
from portal.errors import ValidationFailed
from portal.extensions import db
from portal.clock import utcnow
from portal.records.periods import ensure_year_periods
from portal.reference.loader import load_reference_data


def register_commands(app):
    app.cli.add_command(init_db)
    app.cli.add_command(create_admin)
    app.cli.add_command(demo)
    app.cli.add_command(disable_dormant)
    from portal.audit_chain import audit_archive_command, audit_verify_command
    app.cli.add_command(audit_verify_command)
    app.cli.add_command(audit_archive_command)
    app.cli.add_command(rotate_keys)
    app.cli.add_command(purge_expired)
    app.cli.add_command(escalate_overdue)
    from portal.backup import backup_command, restore_command
    from portal.jobs.worker import worker_command
    app.cli.add_command(worker_command)
    app.cli.add_command(backup_command)
    app.cli.add_command(restore_command)


def apply_schema():
    """Bring the schema to the newest migration and load the reference data."""
    # "heads": migrations made side by side may branch before a merge revision joins them
    upgrade(directory=current_app.extensions["migrate"].directory, revision="heads")
    load_reference_data()
    ensure_year_periods(utcnow().year)
    db.session.commit()


@click.command("init-db")
def init_db():
    """Create or upgrade the database and load reference data."""
    apply_schema()
    click.echo(f"数据库已就绪：{db.engine.url.render_as_string(hide_password=True)}")


@click.command("create-admin")
@click.option("--role", type=click.Choice([role.value for role in AdminRole]), default=AdminRole.SYSTEM.value,
              show_default=True, help="system 系统管理员 / security 安全管理员 / audit 审计管理员")
@click.option("--phone", required=True, help="手机号码")
@click.option("--name", required=True, help="姓名")
def create_admin(role, phone, name):
    """Make one of the three administrators (三员分立)."""
    try:
        account = service.create_system_admin(phone=phone, name=name, admin_role=role)
    except ValidationFailed as failed:
        raise click.ClickException("；".join(failed.errors.values())) from None
    db.session.commit()
    click.echo(f"已创建{account.role_label} {account.name}（{account.masked_phone}）")


@click.command("demo")
@click.option("--if-empty", is_flag=True, help="只在数据库还没有账号时加载")
def demo(if_empty):
    """Load a believable demo province and print every demo account."""
    from portal.demo import DEMO_ADMIN_PHONE, build_demo, build_demo_records, build_demo_reservations
    from portal.oversight.demo import build_demo_oversight

    if if_empty and db.session.scalar(select(Account.id).limit(1)) is not None:
        click.echo("数据库已有账号，跳过演示数据。")
        return
    if db.session.scalar(select(Account.id).where(Account.with_phone(DEMO_ADMIN_PHONE))) is None:
        build_demo()
        build_demo_records(current_app.instance_path)
        build_demo_reservations(current_app.instance_path, current_app.config["PUBLIC_BASE_URL"])
        build_demo_oversight()
        db.session.commit()
    click.echo(f"{'手机号':<13}{'角色':<8}单位")
    for account in db.session.scalars(select(Account).order_by(Account.id)):
        click.echo(f"{account.phone:<14}{account.role_label:<6}{account.unit.kind_label}·{account.unit.name}")


@click.command("disable-dormant")
def disable_dormant():
    """Disable accounts unused for ACCOUNT_DORMANT_DAYS (run daily from a timer)."""
    from portal.accounts.lifecycle import disable_dormant as disable

    days = current_app.config["ACCOUNT_DORMANT_DAYS"]
    accounts = disable(days)
    db.session.commit()
    for account in accounts:
        click.echo(f"已停用 {account.masked_phone} {account.unit.name}")
    click.echo(f"共停用{len(accounts)}个连续{days}天未使用的账号")


@click.command("purge-expired")
@with_appcontext
def purge_expired():
    """Remove SMS codes, wrong tries, sessions and captchas nothing needs any more (run daily)."""
    from portal.accounts.housekeeping import KEEP_DAYS, purge_expired as purge

    removed = purge()
    db.session.commit()
    click.echo("已清除过期数据（保留" + str(KEEP_DAYS) + "天）：" + "，".join(f"{table} {count}" for table, count in removed.items()))


@click.command("escalate-overdue")
@with_appcontext
def escalate_overdue():
    """Tell the level above about forms waiting past the year's confirmation deadlines (run daily)."""
    from portal.oversight.escalation import escalate

    kept = escalate()
    db.session.commit()
    click.echo(f"逾期提醒：已通知{len(kept)}个单位")


@click.command("rotate-keys")
@with_appcontext
def rotate_keys():
    """Re-encrypt personal data and rehash blind indexes under the first key of DATA_KEYS."""
    from portal import crypto, key_rotation

    counts = key_rotation.rotate()
    for column, changed in counts.items():
        click.echo(f"{column}: {changed}")
    left = {column: count for column, count in key_rotation.remaining().items() if count}
    if left:
        raise click.ClickException(f"仍有数据未使用当前密钥 {crypto.current_key_id()}：{left}")
    click.echo(f"全部个人信息已使用当前密钥 {crypto.current_key_id()} 加密。旧密钥须保留至少1天"
               "（短信验证码），并保留到此前生成的恢复码用完或重新生成为止。")
