"""Issue 12's journeys in a real browser, at desktop and phone width: the province finance imports
an 832 workbook, sees completion on the dashboard, opens a city, exports the 通报 and reminds
the units on it; the province office follows a chart's figure to the records behind it."""
import io

import openpyxl
import pytest

from portal.accounts.models import Account
from portal.clock import to_china, utcnow
from portal.extensions import db
from portal.records import workflow
from tests.browser.test_accounts_journey import log_in
from tests.factories import file_record
from tests.oversight_helpers import prepare_fulfilment, workbook

expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e .[test])").expect

pytestmark = pytest.mark.browser

WIDTHS = pytest.mark.parametrize("width", [1280, 390], ids=["desktop", "phone"])


def open_menu(page, width):
    if width < 1200:
        page.get_by_role("button", name="展开导航").click()


@WIDTHS
def test_finance_imports_832_follows_completion_and_reminds_the_units_behind(app, tree, live_server, page, outbox,
                                                                            tmp_path, width):
    with app.app_context():
        units = prepare_fulfilment(tree)
        db.session.commit()
    year = 2024
    rows = [[units[r].name, units[r].code, amount, 0, None] for r, amount in (
        ("superior_budget", 100000), ("budget_unit", 270000), ("gz_budget", 20000), ("county_budget", 90000))]
    upload = tmp_path / "832平台采购统计.xlsx"
    upload.write_bytes(workbook(rows))
    page.set_viewport_size({"width": width, "height": 900 if width > 500 else 844})
    log_in(page, outbox, tree.province_finance.phone)

    open_menu(page, width)
    page.get_by_role("link", name="完成情况").click()
    page.get_by_role("link", name="导入832平台采购数据").click()
    page.get_by_label("年度").select_option(str(year))
    page.get_by_label("统计截止日期（文件中已有“统计截止日期”列时可不填）").fill(f"{year}-09-30")
    page.get_by_label("832平台采购统计（.xlsx）").set_input_files(str(upload))
    page.get_by_role("button", name="上传并预览").click()
    expect(page.locator("#import-preview")).to_contain_text("共 4 个预算单位")
    page.get_by_role("button", name="确认导入").click()
    expect(page.locator("#import-done")).to_contain_text("已导入 4 个预算单位")

    open_menu(page, width)
    page.get_by_role("link", name="统计图表").click()
    page.goto(f"/dashboard?year={year}")
    # 480,000 of the 1,100,000 confirmed canteen share
    expect(page.locator("#dashboard-completion")).to_have_text("43.64%")
    expect(page.locator("#chart-levels canvas")).to_have_count(1)  # ECharts drew under the CSP
    page.locator("#chart-levels").get_by_role("link", name="广州市财政局").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("广州市财政局")
    expect(page.locator("#own-units")).to_contain_text("广州市农业农村局")

    page.goto(f"/oversight/notice/?year={year}&day={year}-10-01&threshold=50")
    expect(page.locator("#notice-count")).to_have_text("2")  # 省教育厅 20%, Guangzhou's unit 10%
    with page.expect_download() as excel:
        page.get_by_role("link", name="导出Excel").click()
    sheet = openpyxl.load_workbook(io.BytesIO(open(excel.value.path(), "rb").read())).active
    assert [row[1] for row in sheet.iter_rows(min_row=2, values_only=True)] == ["广州市农业农村局", "省教育厅"]
    with page.expect_download() as annex:
        page.get_by_role("link", name="打印通报（PDF）").click()
    assert open(annex.value.path(), "rb").read(4) == b"%PDF"

    page.get_by_role("button", name="短信提醒名单上的单位").click()
    expect(page.locator("#preview")).to_contain_text("将向 2 个单位发送")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="确认发送").click()
    expect(page.locator("#sent-result")).to_contain_text("已向 2 个单位发送提醒短信")
    assert outbox.received(tree.gz_budget.phone, "请加快采购进度")
    expect(page.locator("#reminders-sent")).to_contain_text("广州市农业农村局")


@WIDTHS
def test_the_province_office_follows_a_chart_to_the_records_behind_it(app, tree, live_server, page, outbox, width):
    with app.app_context():
        def account(role):
            return db.session.get(Account, getattr(tree, role).id)

        record = file_record(account("gz_merchant"), app.instance_path, product_name="百色芒果")
        workflow.approve(account("gz_market"), record, expected_version=record.version)
        workflow.approve(account("gz_office"), record, expected_version=record.version)
        db.session.commit()
        record_id = record.id
    month = to_china(utcnow()).date()
    page.set_viewport_size({"width": width, "height": 900 if width > 500 else 844})
    log_in(page, outbox, tree.province.phone)
    open_menu(page, width)
    page.get_by_role("link", name="统计图表").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"全省 · {month.year}年消费帮扶统计图表")
    expect(page.locator("#chart-months canvas")).to_have_count(1)
    page.locator("#chart-months").get_by_role("link", name=f"{month.month}月").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"{month.year}年{month.month}月审核通过的购销记录")
    page.get_by_role("link", name=str(record_id), exact=True).click()
    expect(page.locator("body")).to_contain_text("百色芒果")
