"""A finance department's list of budget units: its filters on the page, and 导出Excel of the same
list with the same filters, in the department's scope (its own units, never another's), written
by the worker when large; numbers masked."""
import io

import openpyxl
import pytest
from werkzeug.datastructures import MultiDict

from portal.accounts.models import Account, Unit
from portal.extensions import db
from portal.reservations import unit_changes
from portal.reservations.unit_list import UnitFilters, listed_units, unit_list_export
from tests.test_unit_import import PROVINCE_FINANCE, good_rows, logged_in_client, post_file, xlsx


def _rows(data):
    sheet = openpyxl.load_workbook(io.BytesIO(data), read_only=True).active
    return list(sheet.iter_rows(values_only=True))


@pytest.fixture
def imported(app, tree, login):
    """The five units of good_rows imported by the province finance department, 省档案馆 closed."""
    client = logged_in_client(app, login, PROVINCE_FINANCE)
    assert post_file(client, xlsx(good_rows())).status_code == 200
    with app.app_context():
        finance = db.session.get(Account, tree.province_finance.id)
        archive = db.session.scalar(db.select(Unit).where(Unit.name == "省档案馆"))
        unit_changes.close_unit(finance, archive, "机构改革")
        db.session.commit()
    return client


def test_filters_keep_matching_units_in_tree_order(ctx, tree):
    finance = db.session.get(Account, tree.province_finance.id).unit
    every = [unit.name for unit, _ in listed_units(finance, UnitFilters())]
    assert every == ["省教育厅", "省实验中学"]
    assert [(u.name, d) for u, d in listed_units(finance, UnitFilters(q="实验"))] == [("省实验中学", 1)]
    school = db.session.get(Unit, tree.budget_unit.unit_id)
    school.credit_code = "11440000MB2C00019X"
    assert [u.name for u, _ in listed_units(finance, UnitFilters(q="mb2c0001"))] == ["省实验中学"]
    assert listed_units(finance, UnitFilters(status="closed")) == []


@pytest.mark.parametrize("args, expected", [
    ({"q": "  省  ", "status": "active"}, UnitFilters(q="省", status="active")),
    ({"q": "x" * 500, "status": "deleted"}, UnitFilters(q="x" * 100)),
    ({"q": "a\x00b", "status": "Closed"}, UnitFilters(q="ab")),
])
def test_filter_values_are_bounded(args, expected):
    assert UnitFilters.from_args(MultiDict(args)) == expected


def test_the_export_is_the_departments_own_units(ctx, tree):
    province = db.session.get(Account, tree.province_finance.id)
    export = unit_list_export(province, MultiDict())
    rows = list(export.sheets[0][2])
    assert export.total == 2 and export.title == "省财政厅预算单位"
    assert [row[1:5] for row in rows] == [["省教育厅", "", "—（直属本财政部门）", 1], ["省实验中学", "", "省教育厅", 2]]
    assert rows[0][5:8] == ["联系人", "137****0111", "正常"]

    guangzhou = db.session.get(Account, tree.gz_finance.id)
    assert [row[1] for row in unit_list_export(guangzhou, MultiDict()).sheets[0][2]] == ["广州市农业农村局"]
    county = db.session.get(Account, tree.county_finance.id)
    assert unit_list_export(county, MultiDict()).total == 0


def test_the_page_filters_and_exports_what_it_shows(app, tree, imported):
    client = imported
    page = client.get("/budget-units/?q=医院&status=active").get_data(as_text=True)
    assert 'id="unit-count">2<' in page and "省人民医院惠福分院" in page and "省教育厅</span>" not in page
    assert 'href="/budget-units/export?q=%E5%8C%BB%E9%99%A2&amp;status=active"' in page
    fragment = client.get("/budget-units/?status=closed", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in fragment and "省档案馆" in fragment and "省人民医院" not in fragment

    response = client.get("/budget-units/export?q=医院&status=active")
    assert response.status_code == 200 and "attachment" in response.headers["Content-Disposition"]
    rows = _rows(response.data)
    assert rows[0] == ("序号", "单位名称", "统一社会信用代码", "上级预算单位", "层级", "管理员", "手机号码", "状态", "开通时间")
    assert [row[1:5] for row in rows[1:]] == [("省人民医院", good_rows()[1][2], "省卫生健康委员会", 2),
                                              ("省人民医院惠福分院", good_rows()[2][2], "省人民医院", 3)]
    assert [row[6] for row in rows[1:]] == ["139****0002", "139****0003"]
    closed = _rows(client.get("/budget-units/export?status=closed").data)
    assert [(row[1], row[7]) for row in closed[1:]] == [("省档案馆", "已撤销")]


def test_another_finance_department_exports_only_its_own(app, tree, login, imported):
    guangzhou = logged_in_client(app, login, tree.gz_finance.phone)
    rows = _rows(guangzhou.get("/budget-units/export?q=省").data)
    assert rows[1:] == []
    assert [row[1] for row in _rows(guangzhou.get("/budget-units/export").data)[1:]] == ["广州市农业农村局"]


def test_a_large_export_is_written_by_the_worker_in_the_askers_scope(app, tree, imported):
    client = imported
    inline = _rows(client.get("/budget-units/export").data)
    assert len(inline) == 1 + 7
    app.config["EXPORT_INLINE_ROWS"] = 3
    queued = client.get("/budget-units/export")
    assert queued.status_code == 302 and queued.headers["Location"].startswith("/exports/")
    download = client.get(f"{queued.headers['Location']}/download")  # the worker beside the client wrote it
    assert download.status_code == 200
    assert _rows(download.data) == inline
