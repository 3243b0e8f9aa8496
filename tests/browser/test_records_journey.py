"""The purchase-record journey in a real browser (Chromium through Playwright): a Guangzhou
merchant files a record with an invoice, the market approves it, the city returns it, the
merchant corrects it, both levels approve it, and the province office sees it in its totals.

Each person has their own browser context (cookie jar) and logs in once, reading the code
from the SMS outbox as from their phone. HTMX swaps are awaited with expect(...), never sleeps.
"""
import re
import struct
import zlib

import pytest

from tests.browser.test_accounts_journey import assert_not_reloaded, log_in, mark_page

expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e .[test])").expect

pytestmark = pytest.mark.browser

REASON = "金额与发票不符"
COUNTY = "罗城仫佬族自治县"
REGION = f"广西壮族自治区 / 河池市 / {COUNTY}"
INVOICE = "发票.png"


def png_bytes(width=48, height=32):
    """A small real PNG (an orange rectangle) that a browser decodes and shows."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + bytes((230, 120, 30)) * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))


def expect_page(page, heading):
    """A new page has arrived and its scripts have run (HTMX binds its elements on load)."""
    expect(page.get_by_role("heading", level=1)).to_have_text(heading)
    page.wait_for_load_state()


def open_nav(page, name, heading):
    page.get_by_role("navigation").get_by_role("link", name=name, exact=True).click()
    expect_page(page, heading)


def open_in_panel(page, record_id):
    """In the queue: press 审核 on the record's row; the panel arrives by HTMX, with no question
    asked (opening a record decides nothing)."""
    asked = []

    def answer(dialog):  # a careful person declines a question they did not expect
        asked.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", answer)
    try:
        page.locator(f"#queue-row-{record_id}").get_by_role("button", name="审核").click()
        panel = page.locator("#review-panel")
        try:
            expect(panel.locator(".card-header")).to_contain_text(f"购销记录 {record_id}")
        except AssertionError:
            if asked:
                raise AssertionError(f"pressing 审核 asked “{asked[0]}” (and, declined, opened nothing) instead of "
                                     "opening the record in the panel") from None
            raise
    finally:
        page.remove_listener("dialog", answer)
    assert not asked, f"pressing 审核 asked “{asked[0]}” before opening the record"
    return panel


def expect_toast(page, text):
    toast = page.locator("#toasts .toast", has_text=text)
    expect(toast).to_be_visible()
    return toast


def test_record_is_filed_reviewed_returned_corrected_and_totalled(new_context, tree, outbox, tmp_path, shots_dir):
    invoice = tmp_path / INVOICE
    invoice.write_bytes(png_bytes())

    # ── 1. The Guangzhou merchant fills the form, saves a draft, uploads the invoice, submits.
    merchant = new_context().new_page()
    log_in(merchant, outbox, tree.gz_merchant.phone)
    open_nav(merchant, "购销记录", "我的购销记录")
    expect(merchant.locator("#record-rows")).to_contain_text("还没有购销记录")
    merchant.get_by_role("link", name="填写购销信息").click()
    expect_page(merchant, "填写购销信息")

    form = merchant.locator("#record-form")
    period = form.get_by_label("填报类型")
    period_label = period.locator("option").nth(1).inner_text()
    period.select_option(index=1)
    form.locator("#field-direct_from_origin").get_by_label("是", exact=True).check()
    form.get_by_label("产地省份").select_option(label="广西壮族自治区")
    city = form.get_by_label("产地城市")
    expect(city.locator("option", has_text="河池市")).to_have_count(1)  # filled by HTMX
    city.select_option(label="河池市")
    county = form.get_by_label("产地区县")
    county_option = county.locator("option", has_text=COUNTY)
    expect(county_option).to_have_text(f"{COUNTY}（重点帮扶县）")
    county.select_option(label=f"{COUNTY}（重点帮扶县）")
    form.get_by_label("品类").select_option(label="粮食")
    form.get_by_label("单位", exact=True).select_option(label="吨")
    form.get_by_label("产品名称").fill("大米")
    form.get_by_label("采购数量").fill("2")
    amount = form.get_by_label("采购金额（元）")
    amount.fill("12.345")
    form.get_by_role("button", name="保存草稿").click()

    # Three decimals: the message beside the amount, everything typed kept.
    expect(merchant.locator("#field-amount .invalid-feedback")).to_have_text("采购金额最多保留2位小数")
    form = merchant.locator("#record-form")
    amount = form.get_by_label("采购金额（元）")
    expect(amount).to_have_class(re.compile(r"\bis-invalid\b"))
    expect(amount).to_have_value("12.345")
    expect(form.get_by_label("填报类型").locator("option:checked")).to_have_text(period_label)
    expect(form.locator("#field-direct_from_origin").get_by_label("是", exact=True)).to_be_checked()
    expect(form.get_by_label("产地省份")).to_have_value("450000")
    expect(form.get_by_label("产地城市").locator("option:checked")).to_have_text("河池市")
    expect(form.get_by_label("产地区县").locator("option:checked")).to_have_text(f"{COUNTY}（重点帮扶县）")
    expect(form.get_by_label("品类").locator("option:checked")).to_have_text("粮食")
    expect(form.get_by_label("单位", exact=True).locator("option:checked")).to_have_text("吨")
    expect(form.get_by_label("产品名称")).to_have_value("大米")
    expect(form.get_by_label("采购数量")).to_have_value("2")
    expect(merchant.locator("#record-form .invalid-feedback")).to_have_count(1)

    amount.fill("16800.00")
    form.get_by_role("button", name="保存草稿").click()
    expect_page(merchant, "修改购销记录")
    expect(merchant.get_by_role("alert").filter(has_text="草稿已保存")).to_contain_text("请上传采购凭证")
    record_id = int(re.search(r"/records/(\d+)/edit$", merchant.url).group(1))
    expect(merchant.get_by_label("采购金额（元）")).to_have_value("16800.00")

    # The invoice: chosen, uploaded, listed in place.
    vouchers = merchant.locator("#vouchers")
    expect(vouchers.locator("#no-vouchers")).to_contain_text("还没有上传凭证")
    mark_page(merchant)
    vouchers.get_by_label("凭证类型").select_option(label="发票")
    vouchers.locator("#voucher-file").set_input_files(str(invoice))
    vouchers.get_by_role("button", name="上传").click()
    expect(merchant.locator("#vouchers").get_by_role("link", name=INVOICE)).to_be_visible()
    expect(merchant.locator("#vouchers .list-group-item").first).to_contain_text("发票")
    expect(merchant.locator("#no-vouchers")).to_have_count(0)
    expect_toast(merchant, "凭证已上传")
    assert_not_reloaded(merchant)

    merchant.get_by_role("button", name="提交审核").click()
    expect(merchant.get_by_role("heading", level=1)).to_have_text("我的购销记录")
    expect(merchant.get_by_role("alert").filter(has_text="已提交")).to_contain_text("等待广州批发市场审核")
    row = merchant.locator("#record-rows tbody tr", has_text="大米")
    expect(row).to_have_count(1)
    expect(row.locator("[data-status]")).to_have_text("已填报")
    expect(row).to_contain_text("16,800.00")
    expect(row).to_contain_text(COUNTY)
    expect(row.get_by_role("link", name="查看")).to_be_visible()

    # ── 2. The market approves it in the queue, without leaving the page.
    market = new_context().new_page()
    log_in(market, outbox, tree.gz_market.phone)
    open_nav(market, "审核", "购销记录审核")
    expect(market.locator("#count-pending")).to_have_text("1")
    queue_row = market.locator(f"#queue-row-{record_id}")
    expect(queue_row).to_contain_text("广州批发商")
    expect(queue_row).to_contain_text("大米")
    expect(queue_row).to_contain_text("16,800.00")
    expect(queue_row.locator("[data-status]")).to_have_text("已填报")
    mark_page(market)

    panel = open_in_panel(market, record_id)
    expect(panel.locator(".record-fields")).to_contain_text(REGION)
    expect(panel.locator(".record-fields")).to_contain_text("重点帮扶县")
    expect(panel.locator(".record-fields")).to_contain_text("16,800.00")
    image = panel.get_by_role("img", name=f"发票：{INVOICE}")
    expect(image).to_be_visible()
    market.wait_for_function("img => img.complete && img.naturalWidth === 48", arg=image.element_handle())
    expect(panel.get_by_role("button", name="退回修改")).to_be_visible()  # the first level's wording
    market.screenshot(path=str(shots_dir / "records-queue-panel.png"), full_page=True)

    panel.get_by_role("button", name="审核通过").click()
    expect_toast(market, "已审核通过")
    expect(panel.get_by_role("status")).to_have_text("已审核通过（当前状态：已提交）")
    expect(queue_row).to_have_count(0)
    expect(market.locator("#count-pending")).to_have_text("0")
    expect(market.locator("#count-done")).to_have_text("1")
    expect(market.locator("#queue-body")).to_contain_text("没有待审核的记录")
    assert_not_reloaded(market)

    # ── 3. The city reviewer returns it: first without a reason (refused), then with one.
    reviewer = new_context().new_page()
    log_in(reviewer, outbox, tree.gz_reviewer.phone)
    open_nav(reviewer, "审核", "购销记录审核")
    expect(reviewer.locator("#count-pending")).to_have_text("1")
    city_row = reviewer.locator(f"#queue-row-{record_id}")
    expect(city_row.locator("[data-status]")).to_have_text("已提交")
    mark_page(reviewer)
    panel = open_in_panel(reviewer, record_id)
    expect(panel.locator("#changes-since-return")).to_have_count(0)
    return_button = panel.get_by_role("button", name="市级退回")
    return_button.click()
    expect(panel.locator(".invalid-feedback")).to_have_text("退回时请填写退回原因")
    reason = panel.get_by_label("退回原因（退回时必填）")
    expect(reason).to_have_class(re.compile(r"\bis-invalid\b"))
    expect(city_row).to_have_count(1)  # nothing happened to the record
    reason.fill(REASON)
    panel.get_by_role("button", name="市级退回").click()
    expect_toast(reviewer, "已退回修改，并短信通知填报单位")
    expect(panel.get_by_role("status")).to_have_text("已退回修改，并短信通知填报单位（当前状态：退回修改）")
    expect(city_row).to_have_count(0)
    expect(reviewer.locator("#count-pending")).to_have_text("0")
    assert_not_reloaded(reviewer)
    assert outbox.received(tree.gz_merchant.phone, REASON), \
        "the merchant's phone got no return notice"

    # ── 4. The merchant sees the reason, corrects the amount and submits again.
    open_nav(merchant, "购销记录", "我的购销记录")
    row = merchant.locator("#record-rows tbody tr", has_text="大米")
    expect(row.locator("[data-status]")).to_have_text("退回修改")
    expect(row).to_contain_text(f"退回原因：{REASON}")
    row.get_by_role("link", name="修改").click()
    expect_page(merchant, "修改购销记录")
    expect(merchant.locator("#return-reason")).to_contain_text(f"退回原因：{REASON}")
    # The reason stands above the form.
    reason_box, form_box = merchant.locator("#return-reason").bounding_box(), merchant.locator("#record-form").bounding_box()
    assert reason_box["y"] + reason_box["height"] <= form_box["y"], (reason_box, form_box)
    expect(merchant.locator("#vouchers").get_by_role("link", name=INVOICE)).to_be_visible()
    amount = merchant.get_by_label("采购金额（元）")
    expect(amount).to_have_value("16800.00")
    amount.fill("16000.00")
    merchant.get_by_role("button", name="提交审核").click()
    expect(merchant.get_by_role("heading", level=1)).to_have_text("我的购销记录")
    row = merchant.locator("#record-rows tbody tr", has_text="大米")
    expect(row.locator("[data-status]")).to_have_text("已填报")
    expect(row).to_contain_text("16,000.00")
    expect(row).not_to_contain_text("退回原因")

    # ── 5. The market approves again; the city sees what changed and approves.
    open_nav(market, "审核", "购销记录审核")
    expect(market.locator("#count-pending")).to_have_text("1")
    expect(market.locator(f"#queue-row-{record_id}")).to_contain_text("16,000.00")
    panel = open_in_panel(market, record_id)
    panel.get_by_role("button", name="审核通过").click()
    expect_toast(market, "已审核通过")
    expect(market.locator(f"#queue-row-{record_id}")).to_have_count(0)
    expect(market.locator("#count-pending")).to_have_text("0")

    open_nav(reviewer, "审核", "购销记录审核")
    expect(reviewer.locator("#count-pending")).to_have_text("1")
    panel = open_in_panel(reviewer, record_id)
    changes = panel.locator("#changes-since-return")
    expect(changes).to_contain_text("退回后修改的内容")
    amount_change = changes.locator("tbody tr", has_text="采购金额（元）")
    expect(amount_change.locator("td")).to_have_text(["采购金额（元）", "16,800.00", "16,000.00"])
    expect(changes.locator("tbody tr")).to_have_count(1)  # only the amount changed
    expect(panel.locator(".record-fields")).to_contain_text("16,000.00")
    panel.get_by_role("button", name="审核通过").click()
    expect_toast(reviewer, "已审核通过")
    expect(panel.get_by_role("status")).to_have_text("已审核通过（当前状态：审核通过）")
    expect(reviewer.locator(f"#queue-row-{record_id}")).to_have_count(0)
    expect(reviewer.locator("#count-pending")).to_have_text("0")

    # ── 6. The province office sees it in the totals, by city and among the key counties.
    province = new_context().new_page()
    log_in(province, outbox, tree.province.phone)
    open_nav(province, "汇总统计", "全省审核通过的购销记录汇总")
    expect(province.locator("#total-count")).to_have_text("1")
    expect(province.locator("#total-amount")).to_have_text("16,000.00")
    by_city = province.locator("#by-city tbody tr", has_text="广州市")
    expect(by_city.locator("td")).to_have_text(["广州市", "1", "16,000.00"])
    key_county = province.locator("#by-key-county tbody tr", has_text=COUNTY)
    expect(key_county.locator("td")).to_have_text([REGION, "1", "16,000.00"])
    province.screenshot(path=str(shots_dir / "records-province-totals.png"), full_page=True)
