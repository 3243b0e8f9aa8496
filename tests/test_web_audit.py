"""The audit log page over HTTP: who may read it, what it records, its filters, and that it
never shows a login code. The audit administrator (审计管理员) reads everyone's rows; the admin of
a unit reads its subtree's (tests/test_web_audit_admin.py)."""
import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest

from portal.clock import utcnow
from tests.conftest import csrf_token

HTMX = {"HX-Request": "true"}
GZ_OFFICE = "13700001001"
GZ_MARKET = "13700001011"
UNKNOWN = "13912345678"
AUDIT_ADMIN = "13700000006"
MANY = {"SMS_LIMIT_PER_MINUTE": 100, "SMS_LIMIT_PER_HOUR": 100, "SMS_LIMIT_PER_DAY": 100}


def text_of(response):
    return response.get_data(as_text=True)


def rows(response):
    """The table rows of the results, each as its cells' text."""
    page = text_of(response)
    body = re.search(r"<tbody>(.*?)</tbody>", page, re.S).group(1)
    result = []
    for row in re.findall(r"<tr>(.*?)</tr>", body, re.S):
        cells = [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        if len(cells) == 8:
            result.append(cells)
    return result


def actions(response):
    return [row[3] for row in rows(response)]


def is_login_redirect(response):
    return response.status_code == 302 and urlsplit(response.headers["Location"]).path == "/login"


def shanghai_today():
    return (utcnow() + timedelta(hours=8)).date()


@pytest.fixture
def busy_app(app_factory, app, tree):
    """An app with generous SMS limits on the already prepared database."""
    return app_factory(**MANY)


@pytest.fixture
def history(busy_app, login, outbox):
    """Some traffic: a login, a failed login, a code for an unknown number, a logout."""
    office = login(busy_app.test_client(), GZ_OFFICE)
    office.post("/logout", data={"csrf_token": csrf_token(office, "/")})
    stranger = busy_app.test_client()
    token = csrf_token(stranger)
    stranger.post("/login/code", data={"phone": GZ_MARKET, "csrf_token": token})
    right = outbox.last_code(GZ_MARKET)
    wrong = "000000" if right != "000000" else "111111"
    failed = stranger.post("/login", data={"phone": GZ_MARKET, "code": wrong, "csrf_token": token})
    assert failed.status_code == 422
    stranger.post("/login/code", data={"phone": UNKNOWN, "csrf_token": token})
    return busy_app


@pytest.fixture
def system(history, login):
    """The reader of the whole trail: the audit administrator."""
    return login(history.test_client(), AUDIT_ADMIN)


def test_audit_admin_reads_the_log(system):
    response = system.get("/audit/")
    assert response.status_code == 200
    page = text_of(response)
    assert "操作日志" in page
    assert {"action", "result", "phone", "start", "end"} <= set(re.findall(r'name="([^"]+)"', page))
    seen = actions(response)
    for label in ("登录", "登录失败", "发送验证码", "退出登录"):
        assert label in seen, label


def test_province_office_reads_its_subtree(history, login):
    province = login(history.test_client(), "13700000001")
    response = province.get("/audit/")
    assert response.status_code == 200
    assert {"登录", "退出登录"} <= set(actions(response))  # the Guangzhou office's, below it
    assert "登录失败" not in actions(response)  # nobody's: not of its subtree
    assert "操作日志" in text_of(province.get("/"))  # in the menu


# the system and security administrators (三员分立) and staff reviewers do not read the trail
@pytest.mark.parametrize("phone", ["13700000000", "13700000005", "13700000002", "13700001002"])
def test_others_get_403(history, login, phone):
    client = login(history.test_client(), phone)
    response = client.get("/audit/")
    assert response.status_code == 403
    assert "无权访问" in text_of(response)
    assert client.get("/audit/?action=login", headers=HTMX).status_code == 403
    assert 'href="/audit/"' not in text_of(client.get("/"))


def test_log_needs_login(client):
    assert is_login_redirect(client.get("/audit/"))


def test_log_rows_say_who_did_what(system):
    table = rows(system.get("/audit/?action=login"))
    assert table, "no login rows"
    office_login = [row for row in table if "137****1001" in row[1]]
    assert office_login and office_login[0][2] == "广州协作办" and office_login[0][5] == "成功"
    failed = rows(system.get("/audit/?action=login_failed"))
    assert len(failed) == 1
    when, who, unit, action, obj, result, ip, detail = failed[0]
    assert (who, action, obj, result) == ("未登录", "登录失败", "phone:137****1011", "失败")
    assert "验证码错误" in detail
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", when)


def test_log_never_shows_a_code_that_was_sent(system, outbox):
    codes = {code for message in outbox.messages()
             for code in re.findall(r"验证码为(\d{6})", message["text"])}
    assert len(codes) >= 3
    for path in ("/audit/", "/audit/?action=code_sent", "/audit/?action=login", "/audit/?action=login_failed"):
        for response in (system.get(path), system.get(path, headers=HTMX)):
            page = text_of(response)
            for code in codes:
                assert code not in page, (path, code)
            # no full mobile number either
            for phone in (GZ_OFFICE, GZ_MARKET, UNKNOWN):
                assert phone not in re.sub(r'value="[^"]*"', "", page)


def test_code_sends_are_logged_for_unknown_numbers_too(system):
    sent = rows(system.get("/audit/?action=code_sent"))
    objects = [row[4] for row in sent]
    assert "phone:139****5678" in objects
    assert "phone:137****1011" in objects


def test_filter_by_action_and_result(system):
    only_failed = system.get("/audit/?action=login_failed")
    assert set(actions(only_failed)) == {"登录失败"}
    page = text_of(only_failed)
    assert re.search(r'<option selected value="login_failed">|<option value="login_failed" selected>', page)
    by_result = rows(system.get("/audit/?result=failed"))
    assert by_result and {row[5] for row in by_result} == {"失败"}
    ok = rows(system.get("/audit/?result=ok"))
    assert ok and {row[5] for row in ok} == {"成功"}
    # unknown values are ignored rather than breaking the page
    assert system.get("/audit/?action=drop_table&result=whatever").status_code == 200


def test_filter_by_phone(system):
    mine = rows(system.get(f"/audit/?phone={GZ_OFFICE}"))
    assert mine
    assert all("137****1001" in row[1] for row in mine)
    assert {"登录", "退出登录"} <= {row[3] for row in mine}
    spaced = rows(system.get("/audit/?phone=137+0000+1001"))
    assert spaced == mine
    bad = system.get("/audit/?phone=123")
    assert bad.status_code == 200
    assert "手机号码格式不正确，已忽略该条件" in text_of(bad)


def test_filter_by_a_number_without_account_shows_nobody_elses_rows(system):
    """Filtering on a number that has no account must not list every anonymous event."""
    table = rows(system.get("/audit/?phone=13800138000"))
    assert all("137****" not in row[4] and "139****" not in row[4] for row in table), table
    assert "未登录" not in [row[1] for row in table]


def test_filter_by_dates(system):
    today = shanghai_today()
    tomorrow, yesterday = today + timedelta(days=1), today - timedelta(days=1)
    assert rows(system.get(f"/audit/?start={today}&end={today}"))
    assert rows(system.get(f"/audit/?start={yesterday}"))
    empty = system.get(f"/audit/?start={tomorrow}")
    assert rows(empty) == []
    assert "没有符合条件的日志" in text_of(empty)
    assert rows(system.get(f"/audit/?end={yesterday}")) == []
    # unreadable dates are left out, and the page says so beside the results
    unreadable = system.get("/audit/?start=not-a-date&end=2024-13-45")
    assert unreadable.status_code == 422
    assert "开始日期格式应为YYYY-MM-DD，已忽略该条件" in text_of(unreadable)
    assert "结束日期不是有效的日期" in text_of(unreadable)
    page = text_of(system.get(f"/audit/?start={today}"))
    assert f'value="{today}"' in page


def test_filters_combine(system):
    today = shanghai_today()
    table = rows(system.get(f"/audit/?action=login&result=ok&phone={GZ_OFFICE}&start={today}&end={today}"))
    assert len(table) == 1 and table[0][3] == "登录"


def test_log_page_and_fragment_vary_on_hx_request(system):
    page, part = system.get("/audit/?action=login"), system.get("/audit/?action=login", headers=HTMX)
    assert page.status_code == part.status_code == 200
    assert "<html" in text_of(page) and "<html" not in text_of(part)
    assert rows(page) == rows(part)
    for response in (page, part):
        assert "hx-request" in {v.strip().lower() for v in response.headers.get("Vary", "").split(",")}


def test_account_management_is_in_the_log(system, history, login):
    office = login(history.test_client(), GZ_OFFICE)
    token = csrf_token(office, "/")
    office.post("/accounts/units", data={"kind": "city_office", "name": "伪造", "city_code": "440100",
                                         "contact_name": "x", "phone": "13800138000", "csrf_token": token})
    office.post("/accounts/units", data={"kind": "market", "name": "广州新市场", "city_code": "",
                                         "contact_name": "李主任", "phone": "13800138000", "csrf_token": token})
    table = rows(system.get("/audit/?action=unit_opened"))
    office_rows = [row for row in table if row[2] == "广州协作办"]
    assert [row[5] for row in office_rows if "city_office" in row[7]] == ["拒绝"]
    assert [row[5] for row in office_rows if "广州新市场" in row[7]] == ["成功"]
    assert not any("13800138000" in cell for row in table for cell in row)
