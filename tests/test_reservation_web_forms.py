"""Every rule of the seed (附件1) through the HTTP form: each refusal is a 422 with its Chinese message
beside the field and what the person typed kept; the deadline, one form per unit and year, the lock
after submission, and the live computation of the amounts."""
from datetime import date, timedelta

import pytest
import tinyhtml5
from sqlalchemy import func, select

from portal.clock import to_china, utcnow
from portal.extensions import db
from portal.reservations.models import ConfirmationSheet, Reservation, ReservationEvent, YearPolicy
from tests.conftest import csrf_token

FIGURES = {"canteen_type": "own", "remark": "", "canteen_total": "1000000", "ratio": "30", "union_need": "1",
           "union_total": "200000", "union_ratio": "20", "union_remark": ""}
CONTACTS = {"contact_name": "李晓明", "contact_mobile": "13912345678", "contact_landline": "020-83133000"}
FIGURE_COLUMNS = ("canteen_type", "shared_filler", "remark", "canteen_total", "ratio", "reserved_amount",
                  "union_need", "union_total", "union_ratio", "union_expected", "union_remark")


def add_policy(app, year, **values):
    with app.app_context():
        today = to_china(utcnow()).date()
        policy = YearPolicy(**{"year": year, "min_ratio": 30, "encouraged_ratio": 15, "national_floor": 10,
                               "filing_deadline": today + timedelta(days=30), "flag_below_last_year": True,
                               **values})
        db.session.add(policy)
        db.session.commit()
        return year


@pytest.fixture
def year(app):
    """A year whose filing is open for another month, under Guangdong's 30% minimum."""
    return add_policy(app, to_china(utcnow()).year + 1)


@pytest.fixture
def school(app, tree, login):
    return login(app.test_client(), tree.budget_unit.phone)


# --- reading pages --------------------------------------------------------------------------------

def dom(response):
    return tinyhtml5.parse(response.get_data(as_text=True), namespace_html_elements=False)


def text(element):
    return "".join(element.itertext()).strip()


def by_id(root, element_id):
    found = root.find(f".//*[@id='{element_id}']")
    assert found is not None, f"no #{element_id}"
    return found


def field_errors(root, name):
    """The messages shown in the field's own block (`#field-<name>`), i.e. beside it."""
    block = by_id(root, f"field-{name}")
    return [text(e) for e in block.iter() if "invalid-feedback" in (e.get("class") or "")]


def typed(root, name):
    """What the re-rendered form shows in the control named `name` (the checked value for radios)."""
    controls = root.findall(f".//input[@name='{name}']")
    assert controls, f"no control {name}"
    if controls[0].get("type") == "radio":
        checked = [c.get("value") for c in controls if c.get("checked") is not None]
        return checked[0] if checked else None
    return controls[0].get("value", "")


def all_errors(root):
    return [text(e) for e in root.iter() if "invalid-feedback" in (e.get("class") or "")]


def hidden(root, name):
    control = root.find(f".//input[@name='{name}']")
    assert control is not None, f"no {name} in the page"
    return control.get("value")


def post_step(client, year, step, data):
    """Post a step as the page's own form would: its CSRF token and version."""
    page = client.get(f"/reservations/{year}/step/{step}")
    assert page.status_code == 200, page.status_code
    root = dom(page)
    return client.post(f"/reservations/{year}/step/{step}",
                       data={**data, "csrf_token": hidden(root, "csrf_token"), "version": hidden(root, "version")})


def any_token(client):
    """The session's CSRF token, read from a page that does not redirect."""
    return csrf_token(client, "/")


def form_row(app, unit_id, year):
    with app.app_context():
        form = db.session.scalar(select(Reservation).where(Reservation.unit_id == unit_id, Reservation.year == year))
        if form is None:
            return None
        return {"id": form.id, "version": form.version, "status": form.status, "updated_at": form.updated_at,
                **{c: getattr(form, c) for c in FIGURE_COLUMNS},
                "contact_name": form.contact_name, "contact_landline": form.contact_landline}


def count(app, model, **where):
    with app.app_context():
        query = select(func.count()).select_from(model)
        for column, value in where.items():
            query = query.where(getattr(model, column) == value)
        return db.session.scalar(query)


def flashed(client, response):
    """Follow a redirect and return the warnings flashed on the page it leads to."""
    assert response.status_code == 302, response.status_code
    page = client.get(response.headers["Location"])
    return [text(e) for e in dom(page).iter() if "alert-warning" in (e.get("class") or "")]


# --- step 1: every rule of the figures --------------------------------------------------------------

STEP1_REFUSALS = [
    # letters in an amount
    ({"canteen_total": "12a3"}, "canteen_total", "年度食堂食材采购总额仅可输入数字与小数点"),
    ({"union_total": "二十万"}, "union_total", "工会采购总额仅可输入数字与小数点"),
    # three decimals
    ({"canteen_total": "1000000.125"}, "canteen_total", "年度食堂食材采购总额最多保留小数点后两位"),
    ({"ratio": "30.333"}, "ratio", "预留比例最多保留小数点后两位"),
    # under the year's minimum (Guangdong: 30%)
    ({"ratio": "20"}, "ratio", "预留比例不能低于本年度最低比例30%"),
    # 无食堂 needs exactly that remark
    ({"canteen_type": "none", "canteen_total": "", "ratio": "", "remark": "无饭堂"}, "remark",
     "无食堂的单位请在备注栏注明“无食堂”（不可注明为“无饭堂”或其他文字）"),
    # a shared canteen filed by another unit names that unit
    ({"canteen_type": "shared", "shared_filler": "other", "canteen_total": "", "ratio": "", "remark": ""}, "remark",
     "请在备注中注明代表填报的单位，如“共用XX单位食堂”或“由XX单位填报预留份额”"),
    ({"canteen_type": "shared", "shared_filler": "other", "canteen_total": "", "ratio": "", "remark": "共用食堂"},
     "remark", "请在备注中注明代表填报的单位，如“共用XX单位食堂”或“由XX单位填报预留份额”"),
    # union need 否 needs a remark
    ({"union_need": "0", "union_total": "", "union_ratio": "", "union_remark": ""}, "union_remark",
     "没有工会采购需求的，请在备注中说明有关情况"),
    # at most 50 characters
    ({"remark": "本单位食堂由后勤服务中心统一管理" * 3 + "食堂位于主楼一层东"}, "remark", "备注最多输入50个文字（现为57个）"),
    ({"remark": "字" * 51}, "remark", "备注最多输入50个文字（现为51个）"),
    ({"union_need": "0", "union_total": "", "union_ratio": "", "union_remark": "无" * 51}, "union_remark",
     "备注最多输入50个文字（现为51个）"),
]


def test_step1_refusals_show_the_message_beside_the_field_and_keep_what_was_typed(app, tree, school, year):
    school.get(f"/reservations/{year}/step/1")
    before = form_row(app, tree.budget_unit.unit_id, year)
    assert before is None  # showing the form saves nothing; a refused first save neither
    for overrides, field, message in STEP1_REFUSALS:
        sent = {**FIGURES, **overrides}
        response = post_step(school, year, 1, sent)
        assert response.status_code == 422, overrides
        root = dom(response)
        assert field_errors(root, field) == [message], overrides
        assert all_errors(root) == [message], overrides  # the only message on the page, and beside its field
        # everything typed is still there, the refused value included
        for name, value in sent.items():
            assert typed(root, name) == value, (overrides, name)
        # and nothing was saved
        assert form_row(app, tree.budget_unit.unit_id, year) == before, overrides


def test_step1_accepts_what_the_seed_allows(app, tree, school, year):
    for data in ({"canteen_type": "none", "canteen_total": "", "ratio": "", "remark": "无食堂"},
                 {"canteen_type": "shared", "shared_filler": "other", "canteen_total": "", "ratio": "",
                  "remark": "共用省教育厅机关食堂"},
                 {"remark": "字" * 50, "canteen_total": "1000000.55", "ratio": "30.5"}):
        response = post_step(school, year, 1, {**FIGURES, **data})
        assert response.status_code == 302, data
        assert response.headers["Location"].endswith(f"/reservations/{year}/step/2")
    row = form_row(app, tree.budget_unit.unit_id, year)
    assert str(row["reserved_amount"]) == "305000.17"  # 1,000,000.55 × 30.5%, half up


# --- step 2: contacts ---------------------------------------------------------------------------------

LANDLINE_REFUSALS = [("contact_landline", "83133000"), ("contact_landline", "020 83133000"),
                     ("contact_landline", "02083133000"), ("union_contact_landline", "(020)83133000")]


def test_a_landline_must_be_area_code_dash_number(app, tree, school, year):
    assert post_step(school, year, 1, FIGURES).status_code == 302
    before = form_row(app, tree.budget_unit.unit_id, year)
    message = "固定电话请按“区号-号码”填写，如020-83133000"
    for field, value in LANDLINE_REFUSALS:
        sent = {**CONTACTS, "union_contact_name": "王芳", field: value}
        response = post_step(school, year, 2, sent)
        assert response.status_code == 422, value
        root = dom(response)
        assert field_errors(root, field) == [message], value
        assert all_errors(root) == [message], value
        for name, typed_value in sent.items():
            assert typed(root, name) == typed_value, (value, name)
        assert form_row(app, tree.budget_unit.unit_id, year) == before, value


def test_step2_needs_the_contact_and_a_mobile(app, tree, school, year):
    assert post_step(school, year, 1, FIGURES).status_code == 302
    response = post_step(school, year, 2, {"contact_name": "", "contact_mobile": "1391234", "contact_landline": ""})
    assert response.status_code == 422
    root = dom(response)
    assert field_errors(root, "contact_name") == ["请填写填报预留份额联系人"]
    assert field_errors(root, "contact_mobile") == ["手机号码格式不正确，请输入11位大陆手机号"]
    assert typed(root, "contact_mobile") == "1391234"


# --- step 3, the deadline, one form, the lock -----------------------------------------------------------

def test_submit_needs_the_attestation(app, tree, school, year):
    assert post_step(school, year, 1, FIGURES).status_code == 302
    assert post_step(school, year, 2, CONTACTS).status_code == 302
    response = post_step(school, year, 3, {})
    assert response.status_code == 422
    assert field_errors(dom(response), "attested") == ["请勾选确认：我单位本次填报的内容真实有效，无瞒报、漏报、错报情况"]
    assert form_row(app, tree.budget_unit.unit_id, year)["status"] == "draft"
    assert count(app, ReservationEvent) == 0


def test_no_new_filing_after_the_deadline(app, tree, school):
    past = add_policy(app, 2020, filing_deadline=date(2020, 2, 20))
    message = "2020年度预留份额填报已于2020年02月20日截止，如需补报请联系财政部门"
    token = any_token(school)
    for step in (1, 2, 3):
        assert flashed(school, school.get(f"/reservations/{past}/step/{step}")) == [message]
        forged = school.post(f"/reservations/{past}/step/{step}",
                             data={**FIGURES, **CONTACTS, "attested": "y", "version": "1", "csrf_token": token})
        assert flashed(school, forged) == [message]
    assert count(app, Reservation) == 0
    assert count(app, ReservationEvent) == 0


def test_a_draft_begun_in_time_is_not_submitted_after_the_deadline(app, tree, school, year):
    assert post_step(school, year, 1, FIGURES).status_code == 302
    assert post_step(school, year, 2, CONTACTS).status_code == 302
    page = dom(school.get(f"/reservations/{year}/step/3"))
    with app.app_context():
        policy = db.session.get(YearPolicy, year)
        policy.filing_deadline = to_china(utcnow()).date() - timedelta(days=1)
        db.session.commit()
        deadline = policy.filing_deadline
    before = form_row(app, tree.budget_unit.unit_id, year)
    response = school.post(f"/reservations/{year}/step/3", data={
        "attested": "y", "version": hidden(page, "version"), "csrf_token": hidden(page, "csrf_token")})
    assert response.status_code == 422
    assert f"填报已于{deadline:%Y年%m月%d日}截止，不能再提交新的填报" in response.get_data(as_text=True)
    assert form_row(app, tree.budget_unit.unit_id, year) == before
    assert count(app, ConfirmationSheet) == 0 and count(app, ReservationEvent) == 0


def test_one_form_a_year_locked_once_submitted(app, tree, school, year):
    # Opening the steps again and again saves nothing; the first save makes the one row.
    for _ in range(3):
        assert school.get(f"/reservations/{year}/step/1").status_code == 200
    assert count(app, Reservation, unit_id=tree.budget_unit.unit_id) == 0
    assert post_step(school, year, 1, FIGURES).status_code == 302
    first = form_row(app, tree.budget_unit.unit_id, year)
    assert post_step(school, year, 2, CONTACTS).status_code == 302
    submitted = post_step(school, year, 3, {"attested": "y"})
    assert submitted.status_code == 302
    row = form_row(app, tree.budget_unit.unit_id, year)
    assert row["id"] == first["id"] and row["status"] == "submitted"
    assert count(app, ConfirmationSheet, reservation_id=row["id"]) == 1
    events = count(app, ReservationEvent)

    # A second filing for the year: every step sends the unit back with the lock message.
    locked = f"本单位{year}年度预留份额待上级预算单位确认，不能修改；如需修改请联系上级预算单位退回"
    token = any_token(school)
    for step in (1, 2, 3):
        assert flashed(school, school.get(f"/reservations/{year}/step/{step}")) == [locked]
    # Forged posts to the steps change nothing: figures, contacts, version, status, events, sheets.
    forged = {**FIGURES, "canteen_total": "1", "ratio": "99", "contact_name": "张伟",
              "contact_landline": "020-88888888", "attested": "y", "version": str(row["version"]),
              "csrf_token": token}
    for step in (1, 2, 3):
        assert flashed(school, school.post(f"/reservations/{year}/step/{step}", data=forged)) == [locked]
    assert form_row(app, tree.budget_unit.unit_id, year) == row
    assert count(app, Reservation, unit_id=tree.budget_unit.unit_id) == 1
    assert count(app, ReservationEvent) == events
    assert count(app, ConfirmationSheet, reservation_id=row["id"]) == 1


# --- the live computation -----------------------------------------------------------------------------

def test_compute_shows_the_amounts_and_the_minimum(app, tree, school, year):
    allows_20 = add_policy(app, year + 1, min_ratio=20)
    token = any_token(school)
    typed_in = {"canteen_type": "own", "canteen_total": "1000000", "ratio": "20", "union_need": "1",
                "union_total": "200000", "union_ratio": "20", "csrf_token": token}

    response = school.post(f"/reservations/{allows_20}/compute", data=typed_in)
    assert response.status_code == 200
    root = dom(response)
    assert text(by_id(root, "reserved-amount")) == "200,000.00"
    assert text(by_id(root, "union-expected")) == "40,000.00"
    assert root.find(".//*[@id='ratio-live-error']") is None

    response = school.post(f"/reservations/{year}/compute", data=typed_in)
    assert response.status_code == 200
    assert text(by_id(dom(response), "ratio-live-error")) == "预留比例不能低于本年度最低比例30%"

    # half up to the fen, and nothing shown for what cannot be computed
    root = dom(school.post(f"/reservations/{year}/compute",
                           data={**typed_in, "canteen_total": "10000.05", "ratio": "30.5", "union_total": "12a"}))
    assert text(by_id(root, "reserved-amount")) == "3,050.02"
    assert text(by_id(root, "union-expected")) == "-"
    # nothing is saved by computing
    assert count(app, Reservation) == 0


def test_the_preview_refuses_what_the_save_refuses(app, tree, school, year):
    """100.01% is a message in the live preview as on saving, not an amount."""
    typed_in = {"canteen_type": "own", "canteen_total": "1000000", "ratio": "100.01", "union_need": "1",
                "union_total": "200000", "union_ratio": "100.01", "csrf_token": any_token(school)}
    root = dom(school.post(f"/reservations/{year}/compute", data=typed_in))
    assert text(by_id(root, "reserved-amount")) == "-" and text(by_id(root, "union-expected")) == "-"
    assert text(by_id(root, "ratio-live-error")) == "预留比例不能超过100%"
    assert text(by_id(root, "union-ratio-live-error")) == "工会采购预留比例不能超过100%"
    # below the year's minimum: the message, and no amount either
    root = dom(school.post(f"/reservations/{year}/compute", data={**typed_in, "ratio": "29.99", "union_ratio": "20"}))
    assert text(by_id(root, "reserved-amount")) == "-" and text(by_id(root, "union-expected")) == "40,000.00"
    # a field not yet typed in is no mistake yet
    root = dom(school.post(f"/reservations/{year}/compute", data={**typed_in, "canteen_total": "", "ratio": "30"}))
    assert root.find(".//*[@id='ratio-live-error']") is None


def test_a_step_saved_from_a_page_left_open_is_refused_not_lost(app, tree, school, year):
    """Two tabs on the same form: the contacts page was opened before the figures were saved
    again in the other tab; saving it then is refused with a message, and changes nothing."""
    assert post_step(school, year, 1, FIGURES).status_code == 302
    stale = dom(school.get(f"/reservations/{year}/step/2"))
    assert post_step(school, year, 1, {**FIGURES, "ratio": "35"}).status_code == 302
    before = form_row(app, tree.budget_unit.unit_id, year)
    response = school.post(f"/reservations/{year}/step/2", data={
        **CONTACTS, "csrf_token": hidden(stale, "csrf_token"), "version": hidden(stale, "version")})
    assert flashed(school, response) == ["该预留份额已被修改，当前状态为“草稿”，请刷新后再试"]
    assert form_row(app, tree.budget_unit.unit_id, year) == before


def test_before_any_policy_every_page_explains_instead_of_404(app, tree, login):
    """A new installation: the province finance department has not set a year's policy yet."""
    assert count(app, YearPolicy) == 0
    notice = "省财政厅尚未设置本年度的预留份额政策"
    clients = {role: login(app.test_client(), getattr(tree, role).phone)
               for role in ("budget_unit", "superior_budget", "gz_finance", "province_finance")}
    for role, path in (("budget_unit", "/reservations/"), ("superior_budget", "/reservations/confirmations"),
                       ("gz_finance", "/reservations/finance")):
        response = clients[role].get(path)
        assert response.status_code == 200, (role, response.status_code)
        assert notice in response.get_data(as_text=True), role
    province_finance = clients["province_finance"]
    page = province_finance.get("/reservations/finance").get_data(as_text=True)
    assert "还没有设置任何年度的预留份额政策" in page and 'href="/reservations/policy"' in page
    assert province_finance.get("/reservations/policy").status_code == 200
    superior = clients["superior_budget"]
    token = any_token(superior)
    for path in ("/reservations/remind", "/reservations/batch"):
        assert superior.post(path, data={"csrf_token": token}).status_code == 302
    assert "/reservations/" in superior.get("/reservations/export").headers["Location"]
