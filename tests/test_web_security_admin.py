"""The three administrators in the browser: each sees its own work and menu; the security
administrator's pages force a logout, unlock a number and change the policy."""
import re
from datetime import timedelta

from sqlalchemy import select

from portal.accounts.models import CodeFailure, LoginSession, SmsCode
from portal.audit import AuditEvent
from portal.clock import utcnow
from portal.extensions import db
from portal.personal_data import phone_key
from tests.conftest import csrf_token


def menu(page):
    nav = page.split('id="mainNav"', 1)[1].split("</ul>", 1)[0]
    return re.findall(r'class="nav-link[^"]*" href="[^"]*">([^<]+)</a>', nav)


def test_each_administrator_sees_its_own_work_and_only_its_pages(app, tree, login):
    pages = {role: login(app.test_client(), getattr(tree, role).phone).get("/").get_data(as_text=True)
             for role in ("system", "security_admin", "audit_admin")}
    assert menu(pages["system"]) == ["首页", "账号管理"]
    assert menu(pages["security_admin"]) == ["首页", "在线会话", "账号安全", "安全策略", "后台任务"]
    assert menu(pages["audit_admin"]) == ["首页", "操作日志"]
    assert "开通省级帮扶部门和省级财政部门" in pages["system"]
    assert 'id="home-security"' in pages["security_admin"] and "开通省级" not in pages["security_admin"]
    assert 'id="home-audit"' in pages["audit_admin"] and "强制下线" not in pages["audit_admin"]


def test_the_three_administrators_are_refused_business_pages(app, tree, login):
    clients = {}
    for role in ("system", "security_admin", "audit_admin"):
        client = clients[role] = login(app.test_client(), getattr(tree, role).phone)
        for url in ("/records/", "/records/new", "/reviews/", "/reports/", "/reservations/finance",
                    "/records/regions?level=city&origin_province_code=450000"):
            assert client.get(url).status_code == 403, (role, url)
    security = clients["security_admin"]
    assert security.get("/accounts/").status_code == 403
    assert security.get("/accounts/units/new").status_code == 403


def test_others_are_refused_the_security_pages(app, tree, login):
    for role in ("system", "audit_admin", "province"):
        client = login(app.test_client(), getattr(tree, role).phone)
        assert client.get("/security/").status_code == 403
        assert client.get("/security/settings").status_code == 403


def test_force_logout_from_the_list_of_live_sessions(app, tree, login):
    merchant = login(app.test_client(), tree.gz_merchant.phone)
    admin = login(app.test_client(), tree.security_admin.phone)
    page = admin.get("/security/").get_data(as_text=True)
    assert "137****1012" in page and "广州批发商" in page and "当前会话" in page
    with app.app_context():
        session_id = db.session.scalar(select(LoginSession.id).where(
            LoginSession.account_id == tree.gz_merchant.id, LoginSession.ended_at.is_(None)))
    token = csrf_token(admin, "/security/")
    done = admin.post(f"/security/sessions/{session_id}/end", data={"csrf_token": token}, follow_redirects=True)
    assert "已强制下线 137****1012" in done.get_data(as_text=True)
    assert "/login" in merchant.get("/").headers["Location"]
    again = admin.post(f"/security/sessions/{session_id}/end", data={"csrf_token": token}, follow_redirects=True)
    assert "该会话不存在或已结束" in again.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(AuditEvent.account_id).where(AuditEvent.action == "session_ended")) \
            == tree.security_admin.id


def test_unlock_a_locked_number_from_the_account_search(app, tree, login):
    with app.app_context():
        code = SmsCode(phone_key=phone_key(tree.gz_store.phone), purpose="login", code_hash="x" * 64, created_at=utcnow(),
                       expires_at=utcnow() + timedelta(minutes=5))
        db.session.add(code)
        db.session.flush()
        db.session.add_all([CodeFailure(code_id=code.id, phone_key=phone_key(tree.gz_store.phone), ip="10.1.1.1", created_at=utcnow())
                            for _ in range(10)])
        db.session.commit()
    admin = login(app.test_client(), tree.security_admin.phone)
    page = admin.get("/security/accounts", query_string={"q": "137****1022"}).get_data(as_text=True)
    assert "已锁定" in page and "10.1.1.1" in page
    token = csrf_token(admin, "/security/accounts?q=广州门店")
    done = admin.post(f"/security/accounts/{tree.gz_store.id}/unlock", data={"csrf_token": token, "q": "广州门店"})
    assert done.headers["Location"].endswith("/security/accounts?q=%E5%B9%BF%E5%B7%9E%E9%97%A8%E5%BA%97")
    page = admin.get(done.headers["Location"]).get_data(as_text=True)
    assert "已解除 137****1022 的登录锁定（清除10次错误记录）" in page and "已锁定" not in page


def test_policy_form_keeps_what_was_typed_and_says_what_is_wrong(app, tree, login):
    admin = login(app.test_client(), tree.security_admin.phone)
    token = csrf_token(admin, "/security/settings")
    typed = {"session_idle_minutes": "3", "session_absolute_minutes": "600", "code_max_attempts": "5",
             "lockout_failures": "8", "csrf_token": token}
    refused = admin.post("/security/settings", data=typed)
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    assert "会话空闲超时只能是5到120之间的整数" in page and 'value="600"' in page
    saved = admin.post("/security/settings", data={**typed, "session_idle_minutes": "10"}, follow_redirects=True)
    assert "安全策略已保存" in saved.get_data(as_text=True)
    assert 'value="10"' in admin.get("/security/settings").get_data(as_text=True)
    # The new idle timeout ends a session idle for longer, at its next request.
    merchant = login(app.test_client(), tree.gz_merchant.phone)
    with app.app_context():
        db.session.execute(LoginSession.__table__.update().where(LoginSession.account_id == tree.gz_merchant.id)
                           .values(last_seen_at=utcnow() - timedelta(minutes=11)))
        db.session.commit()
    assert "/login" in merchant.get("/").headers["Location"]


def test_second_factor_reset_is_offered_when_the_route_exists(app, tree, login):
    admin = login(app.test_client(), tree.security_admin.phone)
    page = admin.get("/security/accounts", query_string={"q": "省协作办"}).get_data(as_text=True)
    has_route = any(rule.rule == "/security/second-factor/<int:account_id>/reset" for rule in app.url_map.iter_rules())
    assert (f"/security/second-factor/{tree.province.id}/reset" in page) == has_route
