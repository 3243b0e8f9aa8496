"""The finance departments' oversight pages: the 832 import with its preview, and completion
rolled up across levels, each department within its own subtree."""
import io
import re

import pytest
from openpyxl import load_workbook

from portal.extensions import db
from portal.oversight.models import FulfilmentImport, FulfilmentLine
from tests.conftest import csrf_token
from tests.oversight_helpers import prepare_fulfilment, workbook


@pytest.fixture
def units(app, tree):
    with app.app_context():
        made = prepare_fulfilment(tree)
        db.session.commit()
    return made


def upload(client, data, *, as_of="2024-09-30", year="2024", name="832统计.xlsx"):
    token = csrf_token(client, "/oversight/imports/")
    return client.post("/oversight/imports/", data={"csrf_token": token, "year": year, "as_of": as_of,
                                                    "file": (io.BytesIO(data), name)},
                       content_type="multipart/form-data")


def confirm_fields(page):
    return dict(re.findall(r'<input id="(token|year|as_of)" name="\1" type="hidden" value="([^"]*)"', page))


def imports_count(app):
    with app.app_context():
        return db.session.scalar(db.select(db.func.count(FulfilmentImport.id)))


def rows(units, *roles, amount=150000):
    return [[units[role].name, units[role].code, amount, 1000, None] for role in roles]


def test_preview_then_confirm_keeps_one_import_and_shows_completion(app, as_role, units):
    finance = as_role("province_finance")
    previewed = upload(finance, workbook(rows(units, "budget_unit", "gz_budget")))
    page = previewed.get_data(as_text=True)
    assert previewed.status_code == 200 and "预览：832统计.xlsx" in page and "确认导入" in page
    assert imports_count(app) == 0  # the preview writes nothing

    fields = confirm_fields(page)
    done = finance.post("/oversight/imports/confirm", data={**fields, "csrf_token": csrf_token(finance, "/oversight/")})
    assert done.status_code == 302
    detail = finance.get(done.headers["Location"]).get_data(as_text=True)
    assert "已导入 2 个预算单位" in detail and "省实验中学" in detail
    assert imports_count(app) == 1

    again = finance.post("/oversight/imports/confirm", data={**fields, "csrf_token": csrf_token(finance, "/oversight/")})
    assert again.status_code == 422 and "已过期或已处理" in again.get_data(as_text=True)
    assert imports_count(app) == 1

    overview = finance.get("/oversight/?year=2024&day=2024-10-01").get_data(as_text=True)
    # 150000 of the school's 300000 and of Guangzhou's 200000: 300000 of 1,100,000 final shares
    assert re.search(r'id="canteen-completion">27.27%', overview)
    assert "广州市财政局" in overview and "省教育厅" in overview


def test_a_wrong_file_is_refused_whole_with_the_persons_own_file_annotated(app, as_role, units):
    finance = as_role("province_finance")
    bad = upload(finance, workbook(rows(units, "budget_unit") + [["某单位", "123", 1, 1, None]]))
    page = bad.get_data(as_text=True)
    assert bad.status_code == 422 and "1 行有误，未导入任何数据" in page
    assert "统一社会信用代码不正确" in page
    link = re.search(r'href="(/oversight/imports/errors/[^"]+)"', page).group(1)
    annotated = finance.get(link)
    assert annotated.status_code == 200
    sheet = load_workbook(io.BytesIO(annotated.data)).active
    assert sheet.cell(row=4, column=7).value.startswith("统一社会信用代码不正确")
    assert as_role("gz_finance").get(link).status_code == 404  # nobody else's
    assert imports_count(app) == 0


def test_a_confirmation_meanwhile_made_wrong_is_refused_and_nothing_is_saved(app, as_role, units, tree):
    from portal.accounts.models import Unit

    finance = as_role("province_finance")
    page = upload(finance, workbook(rows(units, "budget_unit"))).get_data(as_text=True)
    with app.app_context():  # the unit's credit code is corrected between preview and confirmation
        db.session.get(Unit, units["budget_unit"].unit_id).credit_code = None
        db.session.commit()
    refused = finance.post("/oversight/imports/confirm",
                           data={**confirm_fields(page), "csrf_token": csrf_token(finance, "/oversight/")})
    assert refused.status_code == 422 and "系统中没有该统一社会信用代码的预算单位" in refused.get_data(as_text=True)
    assert imports_count(app) == 0


@pytest.mark.parametrize("values, message", [
    ({"year": "1999"}, "请选择年度"), ({"as_of": "2024-13-01"}, "不是有效的日期"),
    ({"as_of": "2030-01-01"}, "不能晚于今天"), ({"as_of": "2023-06-30"}, "应在2024年1月1日"),
])
def test_hostile_upload_fields_get_a_message_beside_the_field(as_role, units, values, message):
    finance = as_role("province_finance")
    answer = upload(finance, workbook(rows(units, "budget_unit")), **values)
    assert answer.status_code == 422 and message in answer.get_data(as_text=True)


def test_a_city_sees_its_counties_and_never_another_level(app, as_role, units, tree):
    with app.app_context():
        line_unit = units["gz_budget"].unit_id
    city = as_role("gz_finance")
    page = city.get("/oversight/?year=2024").get_data(as_text=True)
    assert "天河区财政局" in page and "广州市农业农村局" in page
    assert "省实验中学" not in page and "省教育厅" not in page
    assert city.get(f"/oversight/units/{units['budget_unit'].unit_id}").status_code == 404
    assert city.get(f"/oversight/finance/{tree.province_finance.unit_id}").status_code == 404
    county = as_role("county_finance")
    assert county.get(f"/oversight/units/{line_unit}").status_code == 404
    drill = city.get(f"/oversight/finance/{tree.county_finance.unit_id}?year=2024").get_data(as_text=True)
    assert "天河区教育局" in drill and "广州市农业农村局" not in drill


def test_a_city_import_of_a_province_unit_is_refused(app, as_role, units):
    city = as_role("gz_finance")
    answer = upload(city, workbook(rows(units, "gz_budget", "budget_unit")))
    assert answer.status_code == 422 and "不属于本财政部门或下级财政部门" in answer.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(FulfilmentLine.id))) == 0


@pytest.mark.parametrize("query", ["day=2024-02-30", "day=tomorrow", "year=abc", "year=1"])
def test_malformed_queries_are_a_400(as_role, units, query):
    assert as_role("province_finance").get(f"/oversight/?{query}").status_code == 400


def test_the_own_units_list_shows_a_page_at_a_time_in_completion_order(app, as_role, units):
    app.config["PAGE_SIZE"] = 1
    finance = as_role("province_finance")
    first = finance.get("/oversight/?year=2024").get_data(as_text=True).split('id="own-units"')[1]
    assert "共2个" in first and first.count('<tr id="unit-') == 1
    after = re.search(r'href="([^"]*after=\d+[^"]*)"', first).group(1).replace("&amp;", "&")
    assert "year=2024" in after
    second = finance.get(after).get_data(as_text=True).split('id="own-units"')[1]
    assert second.count('<tr id="unit-') == 1 and "下一页" not in second
    assert {re.search(r'<tr id="(unit-\d+)"', page).group(1) for page in (first, second)} == {
        f"unit-{units[role].unit_id}" for role in ("budget_unit", "superior_budget")}


def test_a_city_dashboard_read_by_year_shows_what_it_shows_read_by_unit_ids(as_role, units, tree, monkeypatch):
    """Past FEW_UNITS units, completion.unit_figures reads the year's rows whole instead of by unit
    ids (the oversight pages themselves sum in SQL, oversight.rollup): the city's reserved-share
    dashboard must not change with the path."""
    from portal.oversight import completion

    finance = as_role("gz_finance")

    def figures():
        page = finance.get("/dashboard?year=2024").get_data(as_text=True)
        return page.split('id="dashboard-completion"')[1].split("</main>")[0]

    by_ids = figures()
    assert "天河区财政局" in by_ids
    monkeypatch.setattr(completion, "FEW_UNITS", 0)
    assert figures() == by_ids


def test_departments_hold_their_units_whether_filed_or_not(app, as_role, units, tree):
    """本级按主管部门: the school under 省教育厅 counts in 省教育厅's row, also once its form is gone."""
    from portal.reservations.models import Reservation

    finance = as_role("province_finance")
    with app.app_context():
        db.session.execute(db.delete(Reservation).where(Reservation.unit_id == units["budget_unit"].unit_id))
        db.session.commit()
    section = finance.get("/oversight/?year=2024").get_data(as_text=True).split('id="by-department"')[1]
    section = section.split("</section>")[0]
    assert re.findall(r'<th scope="row" class="fw-normal">([^<]+)</th>\s*<td class="text-end">(\d+)</td>', section) == [
        ("省教育厅", "2")]
