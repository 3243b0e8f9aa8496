"""The reserved-share (预留份额) journey in a real browser (Chromium through Playwright): a school
files its form in three steps, watching the amounts computed live as it types; its superior
returns it with a reason; the school corrects and resubmits; the superior confirms it, files
and confirms its own form and submits the department's batch to finance; finance confirms;
the school downloads the final confirmation sheet.

Each person has their own browser context (cookie jar) and logs in once, reading the code
from the SMS outbox as from their phone. HTMX swaps are awaited with expect(...), never sleeps.
"""
import os
import re
import shutil
import subprocess
from contextlib import contextmanager
from datetime import timedelta

import pytest

from tests.browser.test_accounts_journey import log_in

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e .[test])")
expect = sync_api.expect

pytestmark = pytest.mark.browser

ATTESTATION = "我单位本次填报的内容真实有效，无瞒报、漏报、错报情况"
REASON = "采购总额有误"
CONTACT = "李晓明"
MOBILE = "13912345678"
LANDLINE = "020-83133000"


@pytest.fixture
def year(app):
    """A year whose filing is open for another month (the newest policy: the current year)."""
    from portal.clock import to_china, utcnow
    from portal.extensions import db
    from portal.reservations.models import YearPolicy

    with app.app_context():
        today = to_china(utcnow()).date()
        policy = YearPolicy(year=today.year + 1, min_ratio=30, encouraged_ratio=15, national_floor=10,
                            filing_deadline=today + timedelta(days=30), flag_below_last_year=True)
        db.session.add(policy)
        db.session.commit()
        return policy.year


def expect_page(page, heading):
    """A new page has arrived and its scripts have run (HTMX binds its elements on load)."""
    expect(page.get_by_role("heading", level=1)).to_have_text(heading)
    page.wait_for_load_state()


def open_nav(page, name):
    page.get_by_role("navigation").get_by_role("link", name=name, exact=True).click()
    page.wait_for_load_state()


def expect_step(page, number):
    expect(page.locator(".wizard-steps .text-bg-primary")).to_have_text(re.compile(rf"^{number}\. "))
    page.wait_for_load_state()


@contextmanager
def step1_form_kept(page):
    """Typing into step 1 must leave the form in place (only the amounts are swapped live). If a
    wait inside fails because the form vanished, say so rather than time out on a field."""
    try:
        yield
    except (AssertionError, sync_api.Error):
        if page.locator("#figures-form").count() == 0:
            wizard = page.locator("#wizard")
            left = wizard.inner_html().strip() if wizard.count() else "(no #wizard either)"
            raise AssertionError("the step-1 form vanished while the person chose and typed (the live amounts "
                                 f"request POST /reservations/<year>/compute swapped it away); #wizard now holds: "
                                 f"{left!r}") from None
        raise


def fill_figures(page, total, ratio, union_total, union_ratio):
    """Step 1, as typed by a person; the live amounts are checked by the caller."""
    form = page.locator("#figures-form")
    form.get_by_label("本单位自有的食堂").check()
    form.get_by_label("年度食堂食材采购总额（元）").fill(total)
    form.get_by_label("年度预留比例（%）", exact=True).fill(ratio)
    form.locator("#field-union_need").get_by_label("是", exact=True).check()
    form.get_by_label("年度工会采购总额（元）").fill(union_total)
    form.get_by_label("年度工会采购预留比例（%）").fill(union_ratio)
    return form


def next_step(page, number):
    page.get_by_role("button", name="下一步").click()
    expect_step(page, number)


def fill_contacts(page):
    page.get_by_label("填报预留份额联系人", exact=True).fill(CONTACT)
    page.get_by_label("手机号码", exact=True).fill(MOBILE)
    page.get_by_label("固定电话（区号-号码，选填）").fill(LANDLINE)


def attest_and_submit(page):
    page.get_by_label(ATTESTATION).check()
    page.get_by_role("button", name="确认提交").click()
    expect(page.locator("#reservation-status")).to_have_text("待上级预算单位确认")
    page.wait_for_load_state()


def download_sheet(page, row):
    with page.expect_download() as info:
        row.get_by_role("link", name="下载").click()
    download = info.value
    assert download.failure() is None, download.failure()
    data = open(download.path(), "rb").read()
    assert data.startswith(b"%PDF"), data[:40]
    return download


def decide(page, button, done):
    """On a detail page: press 确认 or 退回 in the decision panel; the panel answers by HTMX."""
    panel = page.locator("#decision")
    panel.get_by_role("button", name=button, exact=True).click()
    expect(page.locator("#decision").get_by_role("status")).to_have_text(done)


def test_school_files_superior_returns_confirms_batches_and_finance_confirms(new_context, tree, outbox, year,
                                                                            shots_dir):
    last = year - 1

    # ── 1. The school files its form in three steps.
    school = new_context().new_page()
    log_in(school, outbox, tree.budget_unit.phone)
    open_nav(school, "预留份额填报")
    expect(school.get_by_role("heading", level=1)).to_have_text(f"{year}年度预算单位采购脱贫地区农副产品预留份额")
    expect(school.locator("#current-form")).to_contain_text(f"本单位尚未填报{year}年度预留份额")
    school.get_by_role("link", name="开始填报").click()
    expect_step(school, 1)
    expect(school.get_by_role("heading", level=1)).to_contain_text(f"{year}年度预算单位采购脱贫地区农副产品预留份额信息填报")

    with step1_form_kept(school):
        form = school.locator("#figures-form")
        expect(form.get_by_label("年度食堂食材采购总额（元）")).to_be_hidden()  # until a canteen type is chosen
        form.get_by_label("本单位自有的食堂").check()
        form.get_by_label("年度食堂食材采购总额（元）").fill("1000000")
        form.get_by_label("年度预留比例（%）", exact=True).fill("20")
        reserved = school.locator("#reserved-amount")
        expect(reserved).to_have_text("-")  # below the year's minimum: the message, not an amount
        expect(school.locator("#ratio-live-error")).to_have_text("预留比例不能低于本年度最低比例30%")
        form.get_by_label("年度预留比例（%）", exact=True).fill("30")
        expect(reserved).to_have_text("300,000.00")
        expect(school.locator("#ratio-live-error")).to_have_count(0)
        expect(form.get_by_label("年度工会采购总额（元）")).to_be_hidden()
        form.locator("#field-union_need").get_by_label("是", exact=True).check()
        form.get_by_label("年度工会采购总额（元）").fill("200000")
        form.get_by_label("年度工会采购预留比例（%）").fill("20")
        expect(school.locator("#union-expected")).to_have_text("40,000.00")
        expect(reserved).to_have_text("300,000.00")
        expect(school.locator(".wizard-steps .text-bg-primary")).to_have_text("1. 填报预留份额")  # still step 1
        school.screenshot(path=str(shots_dir / "reservations-step1-live-amounts.png"), full_page=True)
    next_step(school, 2)

    # Step 2: a landline without its area code is refused beside the field, the rest kept.
    expect(school.get_by_role("heading", name="核对完善预算单位联系人信息")).to_be_visible()
    school.get_by_label("填报预留份额联系人", exact=True).fill(CONTACT)
    school.get_by_label("手机号码", exact=True).fill(MOBILE)
    landline = school.get_by_label("固定电话（区号-号码，选填）")
    landline.fill("83133000")
    school.get_by_role("button", name="下一步").click()
    expect(school.locator("#field-contact_landline .invalid-feedback")).to_have_text(
        "固定电话请按“区号-号码”填写，如020-83133000")
    landline = school.get_by_label("固定电话（区号-号码，选填）")
    expect(landline).to_have_class(re.compile(r"\bis-invalid\b"))
    expect(landline).to_have_value("83133000")
    expect(school.get_by_label("填报预留份额联系人", exact=True)).to_have_value(CONTACT)
    expect(school.get_by_label("手机号码", exact=True)).to_have_value(MOBILE)
    landline.fill(LANDLINE)
    next_step(school, 3)

    # Step 3: every figure, the attestation; submitting without ticking it is refused.
    wizard = school.locator("#wizard")
    figures = wizard.locator("table.figures")
    for label, value in (("食堂类型", "本单位自有的食堂"), ("年度食堂食材采购总额（元）", "1,000,000.00"),
                         ("预留比例", "30.00%"), ("预留份额（元）", "300,000.00"), ("是否有工会采购需求", "是"),
                         ("工会采购总额（元）", "200,000.00"), ("工会采购预留比例", "20.00%"),
                         ("通过832平台预计采购金额（元）", "40,000.00")):
        expect(figures.locator("tr", has=school.locator("td", has_text=re.compile(f"^{re.escape(label)}$")))
               .locator("td").nth(1)).to_have_text(value)
    expect(wizard).to_contain_text(f"{CONTACT} {MOBILE} {LANDLINE}")
    expect(wizard.locator("#field-attested")).to_contain_text(ATTESTATION)
    school.get_by_role("button", name="确认提交").click()
    expect(school.locator("#field-attested .invalid-feedback")).to_have_text(f"请勾选确认：{ATTESTATION}")
    expect(school.get_by_label(ATTESTATION)).not_to_be_checked()
    attest_and_submit(school)
    expect(school.get_by_role("heading", level=1)).to_have_text(f"省实验中学 · {year}年度预留份额")
    expect(school.get_by_role("alert").filter(has_text="已提交")).to_contain_text("确认单正在生成")
    # The worker draws the sheet; the card asks until it is there, then stops asking.
    sheet_rows = school.locator("#sheets li", has=school.get_by_role("link", name="下载"))
    expect(sheet_rows).to_have_count(1)
    expect(school.locator("#sheets [data-waiting]")).to_have_count(0)
    expect(school.locator("#sheets-card")).not_to_have_attribute("hx-trigger", "every 2s")
    expect(sheet_rows.first).to_contain_text("填报提交")
    download_sheet(school, sheet_rows.first)

    # ── 2. The superior sees the school waiting, compares with last year, returns it.
    bureau = new_context().new_page()
    log_in(bureau, outbox, tree.superior_budget.phone)
    open_nav(bureau, "预留份额信息确认")
    expect_page(bureau, f"预留份额信息确认 · {year}年度")
    expect(bureau.locator("#awaiting-count")).to_have_text("1")
    waiting = bureau.locator("section", has=bureau.locator("#awaiting-count")).locator("tbody tr", has_text="省实验中学")
    expect(waiting).to_contain_text("30.00%")
    expect(waiting).to_contain_text("300,000.00")
    waiting.get_by_role("link", name="确认").click()
    expect_page(bureau, f"省实验中学 · {year}年度预留份额")
    comparison = bureau.locator("section.card", has_text=f"{year}年度与{last}年度对比")
    expect(comparison).to_contain_text("1,000,000.00")
    expect(comparison).to_contain_text("300,000.00")
    expect(comparison).to_contain_text(f"没有{last}年度的填报记录。")
    expect(bureau.locator("#reservation-status")).to_have_text("待上级预算单位确认")
    bureau.screenshot(path=str(shots_dir / "reservations-superior-comparison.png"), full_page=True)

    bureau.locator("#decision").get_by_role("button", name="退回", exact=True).click()
    expect(bureau.locator("#decision .invalid-feedback")).to_have_text("退回时请填写退回原因")
    reason = bureau.get_by_label("退回原因（退回时必填）")
    expect(reason).to_have_class(re.compile(r"\bis-invalid\b"))
    reason.fill(REASON)
    decide(bureau, "退回", "已退回，并短信通知填报单位（当前状态：已退回修改）")
    expect(bureau.locator("#toasts")).to_contain_text("已退回，并短信通知填报单位")
    assert outbox.received(tree.budget_unit.phone, REASON), \
        "the school's phone got no return notice"

    # ── 3. The school sees the reason, corrects the total and submits again.
    open_nav(school, "预留份额填报")
    expect(school.locator("#reservation-status")).to_have_text("已退回修改")
    expect(school.locator("#current-form")).to_contain_text(f"退回原因：{REASON}")
    school.get_by_role("link", name="修改预留份额信息").click()
    expect_step(school, 1)
    returned = school.locator("#returned-values")
    expect(returned).to_contain_text(f"已退回修改：{REASON}")
    expect(returned).to_contain_text("采购总额 1,000,000.00 元")
    expect(returned).to_contain_text("预留份额 300,000.00 元")
    returned_box, form_box = returned.bounding_box(), school.locator("#figures-form").bounding_box()
    assert returned_box["y"] + returned_box["height"] <= form_box["y"], (returned_box, form_box)
    form = school.locator("#figures-form")
    expect(form.get_by_label("本单位自有的食堂")).to_be_checked()
    expect(form.get_by_label("年度预留比例（%）", exact=True)).to_have_value("30.00")
    total = form.get_by_label("年度食堂食材采购总额（元）")
    expect(total).to_have_value("1000000.00")
    with step1_form_kept(school):
        total.fill("1200000")
        expect(school.locator("#reserved-amount")).to_have_text("360,000.00")
    next_step(school, 2)
    expect(school.get_by_label("固定电话（区号-号码，选填）")).to_have_value(LANDLINE)
    next_step(school, 3)
    figures = school.locator("#wizard table.figures")
    expect(figures).to_contain_text("1,200,000.00")
    expect(figures).to_contain_text("360,000.00")
    attest_and_submit(school)
    expect(school.locator("#sheets li", has=school.get_by_role("link", name="下载"))).to_have_count(2)

    # ── 4. The superior confirms it, files and confirms its own, and submits the batch.
    open_nav(bureau, "预留份额信息确认")
    expect_page(bureau, f"预留份额信息确认 · {year}年度")
    waiting = bureau.locator("section", has=bureau.locator("#awaiting-count")).locator("tbody tr", has_text="省实验中学")
    expect(waiting).to_contain_text("360,000.00")
    waiting.get_by_role("link", name="确认").click()
    expect_page(bureau, f"省实验中学 · {year}年度预留份额")
    expect(bureau.locator("section.card", has_text="对比")).to_contain_text("1,200,000.00")
    decide(bureau, "确认", "已确认，并短信通知填报单位（当前状态：待财政部门确认）")

    open_nav(bureau, "预留份额填报")
    expect(bureau.locator("#current-form")).to_contain_text(f"本单位尚未填报{year}年度预留份额")
    bureau.get_by_role("link", name="开始填报").click()
    expect_step(bureau, 1)
    with step1_form_kept(bureau):
        fill_figures(bureau, "5000000", "30", "100000", "10")
        expect(bureau.locator("#reserved-amount")).to_have_text("1,500,000.00")
        expect(bureau.locator("#union-expected")).to_have_text("10,000.00")
    next_step(bureau, 2)
    fill_contacts(bureau)
    next_step(bureau, 3)
    attest_and_submit(bureau)
    expect(bureau.get_by_role("heading", level=1)).to_have_text(f"省教育厅 · {year}年度预留份额")
    expect(bureau.locator("#sheets li", has=bureau.get_by_role("link", name="下载"))).to_have_count(1)
    decide(bureau, "确认", "已确认，并短信通知填报单位（当前状态：待财政部门确认）")  # its own: itself confirms

    open_nav(bureau, "预留份额信息确认")
    expect_page(bureau, f"预留份额信息确认 · {year}年度")
    expect(bureau.locator("#awaiting-count")).to_have_text("0")
    batch = bureau.locator("section", has=bureau.locator("#submit-batch"))
    expect(batch).to_contain_text("本部门2份预留份额均已确认，可汇总提交。")
    bureau.get_by_role("button", name="汇总提交财政部门").click()
    expect(bureau.get_by_role("alert").filter(has_text="汇总提交")).to_contain_text("已将2份预留份额汇总提交至省财政厅")
    expect(bureau.locator("#submit-batch")).to_be_disabled()

    # ── 5. Finance sees the school in its queue with the batch, opens it and confirms.
    finance = new_context().new_page()
    log_in(finance, outbox, tree.province_finance.phone)
    open_nav(finance, "预留份额确认")
    expect_page(finance, f"预留份额确认 · {year}年度")
    queue = finance.locator("section", has=finance.locator("#finance-awaiting-count"))
    expect(queue.locator(".card-header")).to_contain_text("待财政部门确认")
    expect(finance.locator("#finance-awaiting-count")).to_have_text("2")
    row = queue.locator("tbody tr", has_text="省实验中学")
    expect(row.locator("td").nth(1)).to_contain_text("省教育厅")  # the batch it came in
    expect(row).to_contain_text("360,000.00")
    row.get_by_role("link", name="确认").click()
    expect_page(finance, f"省实验中学 · {year}年度预留份额")
    expect(finance.locator("#decision .card-header").first).to_have_text("财政部门确认")
    decide(finance, "确认", "财政部门已确认，并短信通知填报单位（当前状态：财政部门已确认）")

    # ── 6. The school's detail page lists the final sheet; it names both confirmers.
    open_nav(school, "预留份额填报")
    expect(school.locator("#reservation-status")).to_have_text("财政部门已确认")
    school.get_by_role("link", name="查看预留份额信息").click()
    expect_page(school, f"省实验中学 · {year}年度预留份额")
    expect(school.locator("#reservation-status")).to_have_text("财政部门已确认")
    final_row = school.locator("#sheets li", has_text="财政部门确认")
    expect(final_row).to_have_count(1)
    download = download_sheet(school, final_row)

    if not shutil.which("pdftotext"):
        reason = "pdftotext (poppler-utils) is not installed: the final sheet's text was not checked"
        if os.environ.get("CI", "").strip().lower() in ("true", "1", "yes"):
            pytest.fail(reason + "; CI is set, so this is a failure", pytrace=False)
        pytest.skip(reason)
    text = subprocess.run(["pdftotext", "-layout", download.path(), "-"], capture_output=True, text=True,
                          check=True).stdout
    compact = re.sub(r"\s+", "", text)
    assert "省教育厅" in compact, text
    assert "省财政厅" in compact, text
    assert "360,000.00" in compact, text
