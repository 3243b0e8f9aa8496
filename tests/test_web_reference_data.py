"""基础数据 through HTTP: the province office admin opens and closes reporting periods (a page of
the records area, /records/periods, the old address sending there), adds and retires list
entries, marks key counties; what filers see change with it; refusals keep what was typed."""
import json
import re

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.records.models import ReportingPeriod
from portal.reference.models import DictionaryEntry, Region
from tests.conftest import csrf_token

pytestmark = pytest.mark.usefixtures("reference_edits")
HX = {"HX-Request": "true"}


def _post(client, url, data, headers=None):
    token = csrf_token(client, "/")
    return client.post(url, data={**data, "csrf_token": token}, headers={"X-CSRFToken": token, **(headers or {})})


def _toast(response):
    return json.loads(response.headers["HX-Trigger"])["toast"]["message"]


def _field_error(page, name):
    block = page[page.index(f'id="field-{name}"'):]
    match = re.search(r'class="invalid-feedback[^"]*"[^>]*>([^<]+)<', block)
    return match.group(1) if match else None


def _period_options(page):
    select_html = re.search(r'<select[^>]*name="period_id".*?</select>', page, re.S).group(0)
    return re.findall(r"<option[^>]*>([^<]+)</option>", select_html)


@pytest.fixture
def province(client, tree, login):
    return login(client, tree.province.phone)


@pytest.fixture
def merchant(app, tree, login):
    return login(app.test_client(), tree.gz_merchant.phone)


def test_a_period_opened_by_the_province_is_offered_to_filers(province, merchant):
    response = _post(province, "/records/periods", {"year": "2027", "fill_type": "current", "name": ""}, HX)
    assert response.status_code == 200
    assert _toast(response) == "已开设填报期“2027年购销信息登记”，填报单位现在可以选择"
    assert "2027年购销信息登记" in response.get_data(as_text=True)
    assert "2027年购销信息登记" in _period_options(merchant.get("/records/new").get_data(as_text=True))


def test_the_old_address_of_the_periods_sends_to_the_records_area(province):
    for old, new in (("/reference-data/periods", "/records/periods"),
                     ("/reference-data/periods?year=2027", "/records/periods?year=2027"),
                     ("/reference-data/", "/reference-data/periods")):
        response = province.get(old)
        assert response.status_code in (301, 302) and response.headers["Location"] == new
    page = province.get("/records/periods?year=2027").get_data(as_text=True)
    assert 'value="2027"' in page and 'class="nav-link active" href="/records/periods"' in page


def test_a_refused_period_keeps_what_was_typed(app, province):
    response = _post(province, "/records/periods", {"year": "2035", "fill_type": "", "name": "试点填报"}, HX)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert _field_error(page, "year").startswith("年度应在 2016 至")
    assert _field_error(page, "fill_type") == "请选择填报类型"
    assert 'value="2035"' in page and 'value="试点填报"' in page
    with app.app_context():
        assert db.session.scalar(select(ReportingPeriod).where(ReportingPeriod.name == "试点填报")) is None


def test_closing_every_period_tells_filers_and_warns_the_province(app, province, merchant):
    with app.app_context():
        period_ids = db.session.scalars(select(ReportingPeriod.id)).all()
    for period_id in period_ids:
        response = _post(province, f"/records/periods/{period_id}/open", {"open": "0"}, HX)
        assert response.status_code == 200 and "已关闭" in response.get_data(as_text=True)
    form = merchant.get("/records/new").get_data(as_text=True)
    assert _period_options(form) == ["请选择"]
    assert "当前没有开放的填报类型，请联系省东西部协作办公室开设填报期" in form
    home = province.get("/").get_data(as_text=True)
    assert 'id="home-missing-period"' in home and "尚未开设“购销信息登记”填报期" in home
    reopened = _post(province, f"/records/periods/{period_ids[-1]}/open", {"open": "1"}, HX)
    assert "重新开放" not in reopened.get_data(as_text=True) and _toast(reopened).endswith("已开放")


def test_a_toggle_with_a_forged_value_changes_nothing(app, province):
    with app.app_context():
        period_id = db.session.scalar(select(ReportingPeriod.id))
    assert _post(province, f"/records/periods/{period_id}/open", {"open": "yes"}, HX).status_code == 400
    assert _post(province, "/reference-data/periods/999999/open", {"open": "0"}, HX).status_code == 404
    with app.app_context():
        assert db.session.get(ReportingPeriod, period_id).open


def test_list_entries_added_and_retired_through_the_page(app, province, merchant):
    response = _post(province, "/reference-data/lists/category", {"category-name": "蜂产品"}, HX)
    assert response.status_code == 200 and _toast(response) == "已添加品类“蜂产品”"
    assert ">蜂产品</option>" in merchant.get("/records/new").get_data(as_text=True)
    with app.app_context():
        honey = db.session.scalar(select(DictionaryEntry).where(DictionaryEntry.name == "蜂产品"))
    retired = _post(province, f"/reference-data/lists/entries/{honey.id}/active", {"active": "0"}, HX)
    assert retired.status_code == 200 and "已停用" in retired.get_data(as_text=True)
    assert ">蜂产品</option>" not in merchant.get("/records/new").get_data(as_text=True)


def test_a_duplicate_entry_is_refused_beside_its_field(province):
    response = _post(province, "/reference-data/lists/measure_unit", {"measure_unit-name": "吨"}, HX)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert _field_error(page, "measure_unit-name") == "单位“吨”已存在"
    assert province.post("/reference-data/lists/colour", data={}).status_code in (400, 404)


def test_marking_a_key_county_shows_in_the_filers_region_choice(app, province, merchant):
    with app.app_context():
        county = db.session.scalar(select(Region).where(Region.level == "county", Region.key_county.is_(False)))
        code, city = county.code, county.parent_code
    response = _post(province, f"/reference-data/counties/{code}/key", {"key": "1"}, HX)
    assert response.status_code == 200 and "国家乡村振兴重点帮扶县" in _toast(response)
    options = merchant.get(f"/records/regions?level=county&origin_city_code={city}").get_data(as_text=True)
    assert re.search(rf'value="{code}"[^>]*>[^<]*（重点帮扶县）', options)
    page = province.get(f"/reference-data/counties?province={code[:2]}0000").get_data(as_text=True)
    assert f'id="county-{code}"' in page and "取消标记" in page
    assert _post(province, f"/reference-data/counties/{city}/key", {"key": "1"}, HX).status_code == 404


def test_the_province_reviewer_sees_no_reference_pages(app, tree, login):
    staff = login(app.test_client(), tree.province_reviewer.phone)
    assert staff.get("/records/periods").status_code == 403
    assert "基础数据" not in staff.get("/").get_data(as_text=True)
