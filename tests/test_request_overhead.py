"""What every logged-in request costs before its page does anything: the login session, the account,
its unit and city, and the security policy's timeouts in one statement; a touch of the session
written without reading any of it again; the menu's and the page's shared question asked once."""
import re
from datetime import timedelta

from sqlalchemy import update

from portal.accounts.models import LoginSession
from portal.accounts.security_admin import SecuritySetting
from portal.clock import utcnow
from portal.extensions import db
from tests.sql_helpers import statements as sql_statements


def reading(table, statements):
    return [sql for sql in statements if re.search(rf"\bFROM {table}\b", sql)]


def test_the_session_account_unit_city_and_policy_come_in_one_statement(app, client, tree, login):
    with app.app_context():
        db.session.add(SecuritySetting(key="session_idle_minutes", value=20))
        db.session.commit()
    login(client, tree.budget_unit.phone)
    client.run_worker = False
    with sql_statements(app) as statements:
        page = client.get("/")
    assert page.status_code == 200
    sessions = reading("login_session", statements)
    assert len(sessions) == 1, sessions
    assert all(name in sessions[0] for name in ("JOIN account", "JOIN unit", "gd_city", "security_setting"))
    assert not [sql for sql in statements if sql is not sessions[0] and "security_setting" in sql]
    # the unit confirms the forms of none: asked by the menu and by the home page, looked up once
    children = [sql for sql in statements if re.search(r"unit\.parent_id = ", sql) and "LIMIT" in sql]
    assert len(children) == 1, children


def test_a_policy_stored_after_login_applies_on_the_next_request(app, client, tree, login):
    login(client, tree.budget_unit.phone)
    with app.app_context():
        db.session.execute(update(LoginSession).values(last_seen_at=utcnow() - timedelta(minutes=10)))
        db.session.add(SecuritySetting(key="session_idle_minutes", value=5))
        db.session.commit()
    page = client.get("/")
    assert page.status_code == 302 and "/login" in page.headers["Location"]


def test_a_touch_is_written_without_reading_the_session_again(app, client, tree, login):
    login(client, tree.superior_budget.phone)
    with app.app_context():
        db.session.execute(update(LoginSession).values(last_seen_at=utcnow() - timedelta(minutes=2)))
        db.session.commit()
    client.run_worker = False
    with sql_statements(app) as statements:
        page = client.get("/")
    assert page.status_code == 200
    assert "省教育厅" in page.get_data(as_text=True)
    assert len([sql for sql in statements if sql.startswith("UPDATE login_session SET last_seen_at")]) == 1
    assert len(reading("login_session", statements)) == 1, reading("login_session", statements)
    assert not reading("account", [sql for sql in statements if "login_session" not in sql and
                                   re.search(r"WHERE account\.id = ", sql)])
    with app.app_context():
        assert db.session.scalar(db.select(LoginSession.last_seen_at)) > utcnow() - timedelta(minutes=1)
