"""三员分立 from the command line: `flask create-admin --role system|security|audit`."""
from sqlalchemy import select

from portal.accounts.models import Account
from portal.extensions import db


def _create(app, *args):
    """The command as `flask --app app create-admin` runs it: within the app's context."""
    with app.app_context():
        return app.test_cli_runner().invoke(args=["create-admin", *args])


def test_each_of_the_three_administrators_is_made_with_its_role(app):
    for role, phone, label in (("system", "13600000001", "系统管理员"), ("security", "13600000002", "安全管理员"),
                               ("audit", "13600000003", "审计管理员")):
        result = _create(app, "--role", role, "--phone", phone, "--name", "王" + label)
        assert result.exit_code == 0, result.output
        assert f"已创建{label} 王{label}（{phone[:3]}****{phone[-4:]}）" in result.output
    with app.app_context():
        accounts = db.session.scalars(select(Account).order_by(Account.id)).all()
        assert [(a.admin_role, a.role_label, a.unit.kind) for a in accounts] == [
            ("system", "系统管理员", "system"), ("security", "安全管理员", "system"), ("audit", "审计管理员", "system")]
        assert len({a.unit_id for a in accounts}) == 1  # one system unit holds the three


def test_the_role_defaults_to_system_and_no_other_role_exists(app):
    assert _create(app, "--phone", "13600000001", "--name", "张三").exit_code == 0
    refused = _create(app, "--role", "root", "--phone", "13600000002", "--name", "李四")
    assert refused.exit_code != 0 and "root" in refused.output
    with app.app_context():
        assert db.session.scalar(select(Account.admin_role)) == "system"


def test_one_number_cannot_hold_a_second_role(app):
    assert _create(app, "--role", "security", "--phone", "13600000002", "--name", "李四").exit_code == 0
    again = _create(app, "--role", "audit", "--phone", "136 0000 0002", "--name", "李四")
    assert again.exit_code != 0 and "已开通账号" in again.output
    with app.app_context():
        assert db.session.scalars(select(Account.admin_role)).all() == ["security"]
