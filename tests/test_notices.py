"""通报: units and departments below a threshold on a day, as a page, an Excel file and a PDF."""
import io
from datetime import date

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

from portal.accounts.models import Account
from portal.extensions import db
from portal.oversight import fulfilment_import
from portal.oversight.notice import build_notice
from tests.oversight_helpers import prepare_fulfilment, workbook

QUERY = "year=2024&day=2024-10-01&threshold=60"


@pytest.fixture
def units(app, tree):
    """Purchases by 30 Sep: 省教育厅 nothing of 500,000; the school 240,000 of 300,000 (80%);
    Guangzhou 50,000 of 200,000 (25%); the county 100,000 of 100,000."""
    with app.app_context():
        made = prepare_fulfilment(tree)
        finance = db.session.get(Account, tree.province_finance.id)
        rows = [[made[r].name, made[r].code, amount, union, None] for r, amount, union in (
            ("budget_unit", 240000, 10000), ("gz_budget", 50000, 10000), ("county_budget", 100000, 0))]
        planned = fulfilment_import.plan_import(finance, workbook(rows), year=2024, as_of=date(2024, 9, 30),
                                                today=date(2024, 12, 31))
        fulfilment_import.commit_import(finance, planned, filename="832.xlsx", data=b"x")
        db.session.commit()
    return made


def test_the_notice_lists_units_and_departments_below_the_threshold_lowest_first(app, tree, units):
    with app.app_context():
        notice = build_notice(tree.province_finance.unit_id, year=2024, day=date(2024, 10, 1), threshold=60)
        assert [f.node.name for f in notice.units] == ["省教育厅", "广州市农业农村局"]
        # 省教育厅's department: itself and the school, 240,000 of 800,000
        assert [(d.label, d.units, str(d.canteen_completion)) for d in notice.departments] == [("省教育厅", 2, "30.00")]
        union = build_notice(tree.province_finance.unit_id, year=2024, day=date(2024, 10, 1), threshold=30,
                             measure="union")
        assert [f.node.name for f in union.units] == ["省实验中学"]
        city = build_notice(tree.gz_finance.unit_id, year=2024, day=date(2024, 10, 1), threshold=60)
        assert [f.node.name for f in city.units] == ["广州市农业农村局"]


def test_the_page_the_excel_file_and_the_pdf_say_the_same(as_role, units):
    finance = as_role("province_finance")
    page = finance.get(f"/oversight/notice/?{QUERY}").get_data(as_text=True)
    assert '<span id="notice-count">2</span>' in page and "短信提醒名单上的单位" in page
    book = load_workbook(io.BytesIO(finance.get(f"/oversight/notice/export?{QUERY}").data))
    units_sheet = book["完成率偏低的预算单位"]
    assert [row[1] for row in units_sheet.iter_rows(min_row=2, values_only=True)] == ["省教育厅", "广州市农业农村局"]
    assert units_sheet.cell(row=3, column=6).value == 25
    answer = finance.get(f"/oversight/notice/pdf?{QUERY}")
    assert answer.status_code == 200 and answer.data.startswith(b"%PDF")
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(answer.data)).pages)
    for words in ("完成情况通报", "省教育厅", "广州市农业农村局", "25.00%", "完成率低于60"):
        assert words in text


def test_a_city_notice_holds_only_its_subtree(as_role, units):
    page = as_role("gz_finance").get(f"/oversight/notice/?{QUERY}").get_data(as_text=True)
    assert "广州市农业农村局" in page and "省教育厅" not in page


@pytest.mark.parametrize("query, message", [
    ("threshold=150", "完成率应在0到100之间"), ("threshold=abc", "只能输入数字"), ("day=2024-02-31", "不是有效的日期"),
])
def test_malformed_filters_are_said_and_ignored(as_role, units, query, message):
    answer = as_role("province_finance").get(f"/oversight/notice/?{query}")
    assert answer.status_code == 200 and message in answer.get_data(as_text=True)
