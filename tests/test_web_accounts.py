"""Account management over HTTP: opening units, adding, editing, disabling and enabling accounts,
who may see what, and what the pages and fragments look like to the person using them."""
import json
import re
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from portal.accounts.models import Account, LoginSession, Unit
from portal.audit import AuditEvent
from portal.extensions import db
from tests.conftest import csrf_token

GZ_OFFICE = "13700001001"
HTMX = {"HX-Request": "true"}
NEW_PHONE = "13800138000"


# --- helpers -----------------------------------------------------------------------------------

def text_of(response):
    return response.get_data(as_text=True)


def input_value(page, name):
    match = re.search(rf'<input\b[^>]*\bname="{name}"[^>]*>', page)
    assert match, f"no input {name}"
    value = re.search(r'\bvalue="([^"]*)"', match.group(0))
    return value.group(1) if value else ""


def errors_near(page, name):
    """The messages shown right after the control named `name` (before the next control)."""
    match = re.search(rf'<(?:input|select)\b[^>]*\bname="{name}"', page)
    assert match, f"no control {name}"
    rest = page[match.end():]
    stop = re.search(r"<(?:input|select)\b|</form>|</tr>", rest)
    chunk = rest[:stop.start()] if stop else rest
    return [m.strip() for m in re.findall(r'class="invalid-feedback[^"]*"[^>]*>([^<]*)<', chunk)]


def is_login_redirect(response):
    return response.status_code == 302 and urlsplit(response.headers["Location"]).path == "/login"


def token(client, path="/"):
    return csrf_token(client, path)


def toast(response):
    header = response.headers["HX-Trigger"]
    header.encode("ascii")  # a header must be ASCII: Chinese travels as \\u escapes
    return json.loads(header)


def vary(response):
    return {v.strip().lower() for v in response.headers.get("Vary", "").split(",")}


def unit_form(**changes):
    data = {"kind": "market", "name": "广州江南果菜批发市场", "city_code": "", "credit_code": "",
            "contact_name": "李主任", "phone": NEW_PHONE}
    data.update(changes)
    return data


def counts(app):
    with app.app_context():
        return (db.session.scalar(select(func.count(Unit.id))),
                db.session.scalar(select(func.count(Account.id))))


def account_of(app, phone):
    with app.app_context():
        return db.session.scalar(select(Account).where(Account.with_phone(phone)))


def all_phones(app):
    with app.app_context():
        return db.session.scalars(select(Account.phone)).all()


@pytest.fixture
def office(app, tree, login):
    """A browser logged in as the Guangzhou city office admin."""
    return login(app.test_client(), GZ_OFFICE)


# --- who may open the page -----------------------------------------------------------------------

def test_city_office_admin_sees_the_units_of_its_city(office, tree):
    response = office.get("/accounts/")
    assert response.status_code == 200
    page = text_of(response)
    for name in ("广州批发市场", "广州连锁商超", "广州电商平台", "广州测试企业有限公司"):
        assert name in page
    for name in ("深圳批发市场", "深圳测试企业有限公司", "广州批发商", "省协作交易市场"):
        assert name not in page
    assert "账号管理" in page


@pytest.mark.parametrize("role", ["gz_reviewer", "province_reviewer"])
def test_accounts_without_admin_rights_get_403(app, tree, login, role):
    phone = getattr(tree, role).phone
    client = login(app.test_client(), phone)
    assert client.get("/accounts/").status_code == 403
    assert "无权访问" in text_of(client.get("/accounts/"))
    assert client.get("/accounts/units/new").status_code == 403
    before = counts(app)
    response = client.post("/accounts/units", data={**unit_form(), "csrf_token": token(client)})
    assert response.status_code == 403
    assert counts(app) == before


@pytest.mark.parametrize("role", ["gz_merchant", "gz_store"])
def test_unit_without_sub_units_manages_only_its_own_accounts(app, tree, login, role):
    """A merchant's admin may add staff to its own unit, but opens no units."""
    me = getattr(tree, role)
    client = login(app.test_client(), me.phone)
    assert client.get("/accounts/").status_code == 200
    assert "没有下级单位" in text_of(client.get("/accounts/"))
    assert client.get(f"/accounts/units/{me.unit_id}").status_code == 200
    assert client.get("/accounts/units/new").status_code == 403
    before = counts(app)
    response = client.post("/accounts/units", data={**unit_form(), "csrf_token": token(client)})
    assert response.status_code == 403
    assert counts(app) == before


def test_accounts_page_needs_login(client, tree):
    assert is_login_redirect(client.get("/accounts/"))
    assert is_login_redirect(client.get(f"/accounts/units/{tree.gz_market.unit_id}"))


# --- opening a unit ------------------------------------------------------------------------------

def test_open_market_without_htmx_redirects_to_the_new_unit(app, office, tree):
    response = office.post("/accounts/units", data={**unit_form(), "csrf_token": token(office)})
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"]).path
    assert re.fullmatch(r"/accounts/units/\d+", location)
    page = text_of(office.get(location))
    assert "已开通批发市场“广州江南果菜批发市场”，管理员账号 138****8000" in page
    assert "广州江南果菜批发市场" in page and "李主任" in page and "管理员" in page
    assert NEW_PHONE not in page
    with app.app_context():
        unit = db.session.scalar(select(Unit).where(Unit.name == "广州江南果菜批发市场"))
        assert (unit.kind, unit.city_code, unit.parent_id) == ("market", "440100", tree.gz_office.unit_id)
        assert [(a.phone, a.role) for a in unit.accounts] == [(NEW_PHONE, "admin")]
    assert "广州江南果菜批发市场" in text_of(office.get("/accounts/"))


def test_open_market_with_htmx_answers_a_fragment_and_a_toast(app, office, tree):
    response = office.post("/accounts/units", data={**unit_form(kind="supermarket", name="广州新连锁"),
                                                    "csrf_token": token(office)}, headers=HTMX)
    assert response.status_code == 200
    page = text_of(response)
    assert "<html" not in page and "<body" not in page
    assert "已开通 <strong>广州新连锁</strong>（连锁商超）" in page
    assert "138****8000" in page and NEW_PHONE not in page
    trigger = toast(response)
    assert trigger["toast"]["message"] == "已开通连锁商超“广州新连锁”，管理员账号 138****8000"
    assert trigger["toast"]["level"] == "success"
    assert trigger["unitsChanged"] is True
    with app.app_context():
        assert db.session.scalar(select(Unit.kind).where(Unit.name == "广州新连锁")) == "supermarket"


def test_open_unit_via_csrf_header_as_htmx_sends_it(app, office):
    page = text_of(office.get("/accounts/"))
    header_token = re.search(r'"X-CSRFToken": "([^"]+)"', page).group(1)
    response = office.post("/accounts/units", data=unit_form(),
                           headers={**HTMX, "X-CSRFToken": header_token})
    assert response.status_code == 200


def test_open_unit_without_csrf_token_is_refused(app, office):
    before = counts(app)
    assert office.post("/accounts/units", data=unit_form()).status_code == 400
    assert office.post("/accounts/units", data=unit_form(), headers=HTMX).status_code == 400
    assert counts(app) == before


def test_city_of_a_market_is_the_office_city_whatever_is_posted(app, office):
    response = office.post("/accounts/units", data={**unit_form(city_code="440300"),
                                                    "csrf_token": token(office)})
    assert response.status_code == 302
    with app.app_context():
        assert db.session.scalar(select(Unit.city_code).where(Unit.name == "广州江南果菜批发市场")) == "440100"


@pytest.mark.parametrize("kind", ["city_office", "merchant", "province_office", "finance", "store",
                                  "enterprise", "system"])
def test_forged_kind_is_refused_and_nothing_saved(app, office, kind):
    before = counts(app)
    for headers in ({}, HTMX):
        response = office.post("/accounts/units", data={**unit_form(kind=kind, city_code="440100"),
                                                        "csrf_token": token(office)}, headers=headers)
        assert response.status_code == 403
    assert counts(app) == before
    assert account_of(app, NEW_PHONE) is None
    with app.app_context():
        denied = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "unit_opened",
                                                             AuditEvent.result == "denied")).all()
        assert len(denied) == 2


def test_unknown_kind_is_a_message_not_a_crash(app, office):
    before = counts(app)
    response = office.post("/accounts/units", data={**unit_form(kind="bogus"), "csrf_token": token(office)})
    assert response.status_code == 422
    assert errors_near(text_of(response), "kind") == ["请选择单位类型"]
    assert counts(app) == before


@pytest.mark.parametrize("headers", [{}, HTMX], ids=["page", "htmx"])
def test_duplicate_phone_is_refused_beside_the_phone_and_name_kept(app, office, tree, headers):
    before = counts(app)
    taken = tree.sz_market.phone
    response = office.post("/accounts/units", data={**unit_form(phone=taken), "csrf_token": token(office)},
                           headers=headers)
    assert response.status_code == 422
    page = text_of(response)
    assert errors_near(page, "phone") == ["该手机号已开通账号（一个手机号只能对应一个单位账号）"]
    assert errors_near(page, "name") == []
    assert input_value(page, "name") == "广州江南果菜批发市场"
    assert input_value(page, "contact_name") == "李主任"
    assert input_value(page, "phone") == taken  # what the person typed stays for correction
    assert counts(app) == before
    if headers:
        assert "<html" not in page
    else:
        assert "<html" in page


@pytest.mark.parametrize("field,value,message", [
    ("name", "", "请填写单位名称"),
    ("name", "市" * 101, "单位名称不能超过100个字"),
    ("contact_name", " ", "请填写联系人姓名"),
    ("phone", "", "请填写手机号码"),
    ("phone", "1380013800", "手机号码格式不正确，请输入11位大陆手机号"),
    ("credit_code", "91440101MA5CXXXX10", "统一社会信用代码不正确（应为18位，且校验位正确）"),
])
def test_open_unit_field_messages(app, office, field, value, message):
    before = counts(app)
    response = office.post("/accounts/units", data={**unit_form(**{field: value}), "csrf_token": token(office)})
    assert response.status_code == 422
    assert errors_near(text_of(response), field) == [message]
    assert counts(app) == before


def test_open_unit_form_offers_only_the_kinds_of_the_office(office):
    response = office.get("/accounts/units/new", headers=HTMX)
    assert response.status_code == 200
    select_html = re.search(r'<select\b[^>]*name="kind"[^>]*>(.*?)</select>', text_of(response), re.S).group(1)
    assert re.findall(r'value="([^"]*)"', select_html) == ["market", "supermarket", "ecommerce"]


# --- another city's units are not there ----------------------------------------------------------

def test_guangzhou_admin_gets_404_for_shenzhen(app, office, tree):
    for unit_id in (tree.sz_market.unit_id, tree.sz_office.unit_id, tree.sz_enterprise.unit_id,
                    tree.gz_merchant.unit_id, tree.province.unit_id):
        assert office.get(f"/accounts/units/{unit_id}").status_code == 404, unit_id
    sz = tree.sz_market
    assert office.get(f"/accounts/{sz.id}/edit").status_code == 404
    assert office.get(f"/accounts/{sz.id}/edit", headers=HTMX).status_code == 404
    assert office.get(f"/accounts/{sz.id}/row").status_code == 404
    t = token(office)
    assert office.post(f"/accounts/{sz.id}/disable", data={"csrf_token": t}).status_code == 404
    assert office.post(f"/accounts/{sz.id}/enable", data={"csrf_token": t}).status_code == 404
    assert office.post(f"/accounts/{sz.id}/edit", data={"contact_name": "改名", "phone": sz.phone,
                                                        "csrf_token": t}).status_code == 404
    before = counts(app)
    assert office.post(f"/accounts/units/{tree.sz_market.unit_id}/accounts",
                       data={"contact_name": "混入者", "phone": NEW_PHONE, "csrf_token": t}).status_code == 404
    assert counts(app) == before
    still = account_of(app, sz.phone)
    assert still.active and still.name == "联系人"
    assert office.get("/accounts/units/999999").status_code == 404


def test_shenzhen_sees_its_own_and_not_guangzhou(app, tree, login):
    client = login(app.test_client(), tree.sz_office.phone)
    assert client.get(f"/accounts/units/{tree.sz_market.unit_id}").status_code == 200
    assert client.get(f"/accounts/units/{tree.sz_enterprise.unit_id}").status_code == 200
    assert client.get(f"/accounts/units/{tree.gz_market.unit_id}").status_code == 404
    assert client.get(f"/accounts/units/{tree.gz_enterprise.unit_id}").status_code == 404
    page = text_of(client.get("/accounts/"))
    assert "深圳批发市场" in page and "广州批发市场" not in page


# --- the lists mask phone numbers --------------------------------------------------------------

def test_lists_mask_phone_numbers(app, office, tree):
    phones = all_phones(app)
    pages = [text_of(office.get("/accounts/")), text_of(office.get("/accounts/", headers=HTMX)),
             text_of(office.get(f"/accounts/units/{tree.gz_office.unit_id}")),
             text_of(office.get(f"/accounts/units/{tree.gz_market.unit_id}")),
             text_of(office.get(f"/accounts/units/{tree.gz_enterprise.unit_id}")),
             text_of(office.get(f"/accounts/{tree.gz_market.id}/row"))]
    for page in pages:
        for phone in phones:
            assert phone not in page
    assert "137****1011" in pages[0]
    assert "137****1002" in pages[2]  # the office's own reviewer
    assert re.search(r"\b1\d{2}\*{4}\d{4}\b", pages[3])


def test_search_and_filter_keep_masking(app, office, tree):
    response = office.get("/accounts/?q=批发&kind=market")
    page = text_of(response)
    assert "广州批发市场" in page and "广州连锁商超" not in page
    for phone in all_phones(app):
        assert phone not in page
    empty = text_of(office.get("/accounts/?q=不存在的单位"))
    assert "没有符合条件的单位" in empty


# --- accounts of the own unit -----------------------------------------------------------------

def test_city_office_adds_a_reviewer(app, office, tree):
    unit_id = tree.gz_office.unit_id
    page = text_of(office.get(f"/accounts/units/{unit_id}"))
    assert "新增审核员" in page
    response = office.post(f"/accounts/units/{unit_id}/accounts",
                           data={"contact_name": "王审核", "phone": NEW_PHONE, "csrf_token": token(office)},
                           headers=HTMX)
    assert response.status_code == 200
    assert "<html" not in text_of(response)
    trigger = toast(response)
    assert trigger["toast"]["message"] == "已新增审核员账号 138****8000"
    assert trigger["accountsChanged"] is True
    added = account_of(app, NEW_PHONE)
    assert (added.unit_id, added.role, added.name) == (unit_id, "staff", "王审核")
    rows = text_of(office.get(f"/accounts/units/{unit_id}", headers=HTMX))
    row = re.search(rf'<tr id="account-{added.id}">(.*?)</tr>', rows, re.S).group(1)
    assert "王审核" in row and "138****8000" in row and "审核员" in row and "正常" in row
    assert NEW_PHONE not in rows


def test_added_reviewer_can_log_in_and_is_a_reviewer(app, office, tree, login):
    office.post(f"/accounts/units/{tree.gz_office.unit_id}/accounts",
                data={"contact_name": "王审核", "phone": NEW_PHONE, "csrf_token": token(office)})
    reviewer = login(app.test_client(), NEW_PHONE)
    page = text_of(reviewer.get("/"))
    assert "王审核（审核员）" in page
    assert reviewer.get("/accounts/").status_code == 403


def test_add_account_with_taken_phone_is_refused_and_values_kept(app, office, tree):
    before = counts(app)
    response = office.post(f"/accounts/units/{tree.gz_office.unit_id}/accounts",
                           data={"contact_name": "王审核", "phone": tree.sz_office.phone,
                                 "csrf_token": token(office)}, headers=HTMX)
    assert response.status_code == 422
    page = text_of(response)
    assert errors_near(page, "phone") == ["该手机号已开通账号（一个手机号只能对应一个单位账号）"]
    assert input_value(page, "contact_name") == "王审核"
    assert counts(app) == before


def test_staff_added_to_a_market_is_an_agent(app, office, tree):
    response = office.post(f"/accounts/units/{tree.gz_market.unit_id}/accounts",
                           data={"contact_name": "赵经办", "phone": NEW_PHONE, "csrf_token": token(office)},
                           headers=HTMX)
    assert response.status_code == 200
    assert toast(response)["toast"]["message"] == "已新增经办人账号 138****8000"


# --- edit contact inline ----------------------------------------------------------------------

def test_edit_contact_inline(app, office, tree):
    reviewer = tree.gz_reviewer
    form = office.get(f"/accounts/{reviewer.id}/edit", headers=HTMX)
    assert form.status_code == 200
    page = text_of(form)
    assert "<html" not in page
    assert input_value(page, "contact_name") == "广州审核员"
    assert input_value(page, "phone") == reviewer.phone
    saved = office.post(f"/accounts/{reviewer.id}/edit",
                        data={"contact_name": "广州审核员（新）", "phone": reviewer.phone,
                              "csrf_token": token(office)}, headers=HTMX)
    assert saved.status_code == 200
    row = text_of(saved)
    assert "广州审核员（新）" in row and "137****1002" in row and reviewer.phone not in row
    assert toast(saved)["toast"]["message"] == "联系人信息已保存"
    assert account_of(app, reviewer.phone).name == "广州审核员（新）"


@pytest.mark.parametrize("phone,message", [
    ("1370000100", "手机号码格式不正确，请输入11位大陆手机号"),
    ("", "请填写手机号码"),
    ("13700003011", "该手机号已开通账号（一个手机号只能对应一个单位账号）"),
])
def test_edit_contact_bad_phone_is_422_with_values_kept(app, office, tree, phone, message):
    reviewer = tree.gz_reviewer
    response = office.post(f"/accounts/{reviewer.id}/edit",
                           data={"contact_name": "新名字", "phone": phone, "csrf_token": token(office)},
                           headers=HTMX)
    assert response.status_code == 422
    page = text_of(response)
    assert errors_near(page, "phone") == [message]
    assert input_value(page, "contact_name") == "新名字"
    assert input_value(page, "phone") == phone
    unchanged = account_of(app, reviewer.phone)
    assert unchanged.name == "广州审核员"


def test_changing_a_phone_ends_the_old_sessions(app, office, tree, login):
    reviewer = login(app.test_client(), tree.gz_reviewer.phone)
    assert reviewer.get("/").status_code == 200
    response = office.post(f"/accounts/{tree.gz_reviewer.id}/edit",
                           data={"contact_name": "广州审核员", "phone": NEW_PHONE, "csrf_token": token(office)},
                           headers=HTMX)
    assert response.status_code == 200
    assert "138****8000" in text_of(response)
    assert is_login_redirect(reviewer.get("/"))


def test_admin_cannot_edit_or_disable_itself(app, office, tree):
    me = tree.gz_office
    assert office.get(f"/accounts/{me.id}/edit").status_code == 403
    t = token(office)
    assert office.post(f"/accounts/{me.id}/disable", data={"csrf_token": t}).status_code == 403
    assert office.post(f"/accounts/{me.id}/edit",
                       data={"contact_name": "x", "phone": me.phone, "csrf_token": t}).status_code == 403
    assert account_of(app, me.phone).active
    assert office.get("/").status_code == 200


# --- disable and enable -----------------------------------------------------------------------

def test_disable_and_enable_with_htmx(app, office, tree, login):
    market = login(app.test_client(), tree.gz_market.phone)
    target = tree.gz_market.id
    off = office.post(f"/accounts/{target}/disable", data={"csrf_token": token(office)}, headers=HTMX)
    assert off.status_code == 200
    assert "已停用" in text_of(off) and "启用" in text_of(off)
    assert toast(off)["toast"]["message"] == "已停用账号 137****1011"
    assert not account_of(app, tree.gz_market.phone).active
    assert is_login_redirect(market.get("/"))
    with app.app_context():
        assert db.session.scalar(select(LoginSession.end_reason).where(
            LoginSession.account_id == target)) == "disabled"
    on = office.post(f"/accounts/{target}/enable", data={"csrf_token": token(office)}, headers=HTMX)
    assert on.status_code == 200
    assert "正常" in text_of(on) and "停用" in text_of(on)
    assert toast(on)["toast"]["message"] == "已启用账号 137****1011"
    assert account_of(app, tree.gz_market.phone).active


def test_disable_without_htmx_redirects_to_the_unit(app, office, tree):
    response = office.post(f"/accounts/{tree.gz_market.id}/disable", data={"csrf_token": token(office)})
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == f"/accounts/units/{tree.gz_market.unit_id}"
    page = text_of(office.get(response.headers["Location"]))
    assert "已停用账号 137****1011" in page and "已停用" in page


def test_disable_by_get_or_without_token_does_nothing(app, office, tree):
    assert office.get(f"/accounts/{tree.gz_market.id}/disable").status_code == 405
    assert office.post(f"/accounts/{tree.gz_market.id}/disable").status_code == 400
    assert account_of(app, tree.gz_market.phone).active


def test_market_admin_manages_its_merchants_only(app, tree, login):
    market = login(app.test_client(), tree.gz_market.phone)
    page = text_of(market.get("/accounts/"))
    assert "广州批发商" in page and "广州连锁商超" not in page
    assert market.get(f"/accounts/units/{tree.gz_merchant.unit_id}").status_code == 200
    assert market.get(f"/accounts/units/{tree.sz_merchant.unit_id}").status_code == 404
    assert market.post(f"/accounts/{tree.sz_merchant.id}/disable",
                       data={"csrf_token": token(market)}).status_code == 404


# --- Vary: HX-Request ----------------------------------------------------------------------------

def test_pages_that_also_serve_fragments_vary_on_hx_request(office, tree):
    for path in ("/accounts/", "/accounts/units/new", f"/accounts/units/{tree.gz_market.unit_id}"):
        page, part = office.get(path), office.get(path, headers=HTMX)
        assert page.status_code == part.status_code == 200
        assert "<html" in text_of(page) and "<html" not in text_of(part)
        assert "hx-request" in vary(page), path
        assert "hx-request" in vary(part), path


def test_error_pages_also_vary_on_hx_request(app, tree, login, office):
    """A 403/404 is a full page for a browser and a fragment for HTMX: it must say so in Vary too."""
    reviewer = login(app.test_client(), tree.gz_reviewer.phone)
    for client, path in ((reviewer, "/accounts/"), (office, f"/accounts/units/{tree.sz_market.unit_id}")):
        page, part = client.get(path), client.get(path, headers=HTMX)
        assert page.status_code == part.status_code
        assert "<html" in text_of(page) and "<html" not in text_of(part)
        assert "hx-request" in vary(page), path
        assert "hx-request" in vary(part), path
