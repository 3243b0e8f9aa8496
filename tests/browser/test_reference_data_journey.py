"""基础数据 in a real browser: the province office admin opens next year's reporting period
(after a refused try), closes the half-year back-fill, adds a category and marks a key county,
all in place without a page load; a merchant's record form then offers exactly that."""
import re

import pytest

from tests.browser.test_accounts_journey import assert_not_reloaded, log_in, mark_page

expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e .[test])").expect

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("reference_edits")]


def test_province_keeps_reference_data_and_filers_see_it(new_context, tree, outbox, shots_dir):
    admin = new_context().new_page()
    log_in(admin, outbox, tree.province.phone)
    admin.get_by_role("link", name="基础数据").click()
    expect(admin.get_by_role("heading", name="基础数据")).to_be_visible()
    mark_page(admin)

    # A year too far is refused beside the field, and what was typed stays.
    form = admin.locator("form", has=admin.get_by_role("button", name="开设"))
    form.get_by_label("年度", exact=True).fill("2035")
    form.get_by_label("填报类型").select_option(label="购销信息登记")
    form.get_by_role("button", name="开设").click()
    expect(admin.locator("#year-error")).to_contain_text("年度应在 2016 至")
    expect(form.get_by_label("年度", exact=True)).to_have_value("2035")
    expect(form.get_by_label("填报类型")).to_have_value("current")

    admin.locator("form", has=admin.get_by_role("button", name="开设")).get_by_label("年度", exact=True).fill("2027")
    admin.get_by_role("button", name="开设").click()
    expect(admin.locator(".toast")).to_contain_text("已开设填报期“2027年购销信息登记”")
    new_row = admin.locator("tr", has_text="2027年购销信息登记")
    expect(new_row).to_contain_text("开放")

    # Close the half-year back-fill: a confirmation, then the row says so.
    backfill = admin.locator("tr", has_text=re.compile(r"\d{4}年上半年购销信息补登"))
    backfill_name = backfill.locator("td").first.inner_text()
    admin.once("dialog", lambda dialog: dialog.accept())
    backfill.get_by_role("button", name="关闭").click()
    expect(backfill).to_contain_text("已关闭")
    expect(backfill.get_by_role("button", name="重新开放")).to_be_visible()
    assert_not_reloaded(admin)

    # A category for the form.
    admin.get_by_role("link", name="品类与单位").click()
    categories = admin.locator("#list-category")
    categories.get_by_placeholder("新增品类").fill("蜂产品")
    categories.get_by_role("button", name="添加").click()
    expect(admin.locator("#list-category")).to_contain_text("蜂产品")

    # A key county, among Guizhou's.
    admin.get_by_role("link", name="重点帮扶县").click()
    expect(admin).to_have_url(re.compile(r"/reference-data/counties"))
    admin.wait_for_load_state("load")  # the province list submits itself once the deferred script runs
    admin.get_by_label("省份").select_option(label="贵州省")
    expect(admin).to_have_url(re.compile(r"province=520000"))
    header = admin.locator("#county-table .card-header")
    key_before = int(re.search(r"重点帮扶县 (\d+) 个", header.inner_text()).group(1))
    plain = admin.locator("tr", has=admin.get_by_role("button", name="标记为重点帮扶县")).first
    county_id = plain.get_attribute("id")
    plain.get_by_role("button", name="标记为重点帮扶县").click()
    marked = admin.locator(f"#{county_id}")
    expect(marked).to_contain_text("重点帮扶县")
    expect(marked.get_by_role("button", name="取消标记")).to_be_visible()
    expect(header).to_contain_text(f"重点帮扶县 {key_before + 1} 个")
    expect(admin.get_by_label("省份")).to_have_value("520000")
    admin.screenshot(path=str(shots_dir / "reference-data-counties.png"), full_page=True)

    # The merchant's form: next year's period and the new category; not the closed back-fill.
    merchant = new_context().new_page()
    log_in(merchant, outbox, tree.gz_merchant.phone)
    merchant.goto("/records/new")
    period_options = merchant.get_by_label("填报类型").locator("option").all_inner_texts()
    assert "2027年购销信息登记" in period_options and backfill_name not in period_options
    category_options = merchant.get_by_label("品类").locator("option").all_inner_texts()
    assert "蜂产品" in category_options
