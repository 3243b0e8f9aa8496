"""The budget-unit import in a real browser at desktop and phone width: the province finance
department uploads a workbook, sees the preview inside the page (HTMX, no reload), confirms, and
sees the new units in its list, which it exports; then it uploads a workbook with a wrong row and
downloads its own file annotated with 错误原因."""
import io

import openpyxl
import pytest

from tests.browser.axe import assert_no_serious_violations
from tests.browser.test_accounts_journey import assert_not_reloaded, log_in, mark_page
from tests.test_unit_import import good_rows, xlsx

expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e .[test])").expect

pytestmark = pytest.mark.browser

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def choose_file(page, name, content):
    page.get_by_label("Excel 文件（.xlsx）").set_input_files({"name": name, "mimeType": XLSX, "buffer": content})


def downloaded_rows(page, link):
    with page.expect_download() as fetched:
        link.click()
    with open(fetched.value.path(), "rb") as stream:
        sheet = openpyxl.load_workbook(io.BytesIO(stream.read()), read_only=True).worksheets[0]
        return fetched.value.suggested_filename, list(sheet.iter_rows(values_only=True))


@pytest.mark.parametrize("width", [1280, 390], ids=["desktop", "phone"])
def test_finance_previews_confirms_and_gets_a_bad_file_back_annotated(tree, live_server, page, outbox, width):
    page.set_viewport_size({"width": width, "height": 900 if width > 500 else 844})
    log_in(page, outbox, tree.province_finance.phone)

    page.goto("/budget-units/")
    expect(page.get_by_role("heading", level=1)).to_have_text("预算单位管理")
    mark_page(page)
    choose_file(page, "2025年新增预算单位.xlsx", xlsx(good_rows()))
    page.get_by_role("button", name="上传并预览").click()
    preview = page.locator("#import-preview")
    expect(preview).to_contain_text("导入预览：2025年新增预算单位.xlsx（共 5 行，尚未导入）")
    assert_not_reloaded(page)  # the preview came into the page
    expect(page.locator("#preview-counts")).to_contain_text("新开通·主管预算单位 1")
    expect(page.locator("#preview-row-5")).to_contain_text("省教育厅")
    expect(page.locator("#preview-row-5")).to_contain_text("新开通·隶属已开通单位")
    expect(page.locator("#units")).not_to_contain_text("省卫生健康委员会")  # nothing opened yet
    assert_no_serious_violations(page, "the import's preview")

    page.get_by_role("button", name="确认导入（5 个单位）").click()
    expect(page.locator("#import-result")).to_contain_text("已导入 5 个预算单位（2025年新增预算单位.xlsx）")
    expect(page.locator("#units")).to_contain_text("省人民医院惠福分院")
    expect(page.locator("#unit-count")).to_have_text("7")

    # The list, filtered, and its export with the same filter.
    page.get_by_label("单位名称或统一社会信用代码").fill("医院")
    page.get_by_role("button", name="筛选").click()
    expect(page.locator("#unit-count")).to_have_text("2")
    name, rows = downloaded_rows(page, page.get_by_role("link", name="导出Excel"))
    assert name.endswith(".xlsx")
    assert [row[1] for row in rows[1:]] == ["省人民医院", "省人民医院惠福分院"]

    # A file with a wrong row: nothing is staged, the person's own file comes back annotated.
    page.goto("/budget-units/")
    mark_page(page)
    rows = [[1, "省统计局", good_rows()[0][2], "", "甲", "13912340101"]]  # a code imported above
    choose_file(page, "统计局.xlsx", xlsx(rows))
    page.get_by_role("button", name="上传并预览").click()
    errors = page.locator("#import-errors")
    expect(errors).to_contain_text("统计局.xlsx：1 行有误，所有单位均未导入")
    expect(page.locator("#error-row-2")).to_contain_text("该统一社会信用代码已登记")
    assert_not_reloaded(page)
    expect(page.get_by_role("button", name="确认导入")).to_have_count(0)
    name, annotated = downloaded_rows(page, page.get_by_role("link", name="下载标注错误的文件"))
    assert name == "统计局-错误原因.xlsx"
    assert annotated[0][-1] == "错误原因" and annotated[1][-1] == "该统一社会信用代码已登记"
