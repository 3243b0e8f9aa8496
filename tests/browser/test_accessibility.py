"""Accessibility (GB/T 37668, which follows WCAG 2.1 AA) of the pages the journeys walk through, in
Chromium at a laptop's width (1366 px) and a phone's (390 px): axe-core finds no serious or critical
problem, the review queue shows its amount, status and 审核 columns without sideways scrolling, and
the review panel takes focus when it opens. Screenshots go to /tmp/browser-shots."""
import re

import pytest

from tests.browser.axe import assert_no_serious_violations
from tests.browser.test_accounts_journey import log_in

expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e .[test])").expect

pytestmark = pytest.mark.browser

WIDTHS = (1366, 390)


@pytest.fixture
def year(open_year):
    return open_year


@pytest.fixture
def submitted_record(app, tree):
    from portal.accounts.models import Account
    from portal.extensions import db
    from tests.factories import file_record

    with app.app_context():
        record = file_record(db.session.get(Account, tree.gz_enterprise.id), app.instance_path,
                             quantity="100", amount="1234567.50")
        db.session.commit()
        return record.id


def check(page, name, shots_dir, settle=None):
    """axe at each width (the page as it is, re-laid out), with a screenshot of each."""
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.mouse.move(0, 0)  # no hover state left from the last click
        if settle:
            settle()
        page.screenshot(path=str(shots_dir / f"a11y-{name}-{width}.png"), full_page=True)
        assert_no_serious_violations(page, f"{name} at {width} px")


def visit(page, path, name, shots_dir):
    page.goto(path)
    page.wait_for_load_state()
    check(page, name, shots_dir)


def test_login_page(page, shots_dir):
    visit(page, "/login", "login", shots_dir)


def test_filer_pages(page, outbox, tree, submitted_record, shots_dir):
    log_in(page, outbox, tree.gz_enterprise.phone)
    check(page, "home", shots_dir)
    visit(page, "/records/", "records", shots_dir)
    visit(page, "/records/new", "record-form", shots_dir)
    visit(page, f"/records/{submitted_record}", "record-detail", shots_dir)


def _fits(page, locator):
    """The element is on screen horizontally, with no sideways scroll of the page or the table."""
    box = locator.bounding_box()
    width = page.viewport_size["width"]
    return box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width


def test_review_queue_fits_and_the_panel_takes_focus(page, outbox, tree, submitted_record, shots_dir):
    log_in(page, outbox, tree.gz_reviewer.phone)
    page.goto("/reviews/")
    row = page.locator(f"#queue-row-{submitted_record}")
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        amount = row.get_by_text("1,234,567.50")
        status = row.locator("[data-status]")
        button = row.get_by_role("button", name="审核")
        for cell, what in ((amount, "amount"), (status, "status"), (button, "审核 button")):
            expect(cell).to_be_visible()
            assert _fits(page, cell), f"the {what} is off screen at {width} px"
        overflow = page.evaluate("""() => [...document.querySelectorAll('.table-responsive')]
            .some(box => box.scrollWidth > box.clientWidth + 1) || document.documentElement.scrollWidth > innerWidth""")
        assert not overflow, f"the queue scrolls sideways at {width} px"
    check(page, "queue", shots_dir)

    page.set_viewport_size({"width": 1366, "height": 900})
    row.get_by_role("button", name="审核").click()
    heading = page.locator("#review-panel-title")
    expect(heading).to_have_text(f"购销记录 {submitted_record}")
    expect(heading).to_be_focused()
    expect(page.locator("#review-panel").get_by_text("1,234,567.50")).to_be_visible()
    check(page, "queue-panel", shots_dir)

    # A refused 退回 (no reason) puts focus in the reason field, whose error it names.
    page.set_viewport_size({"width": 1366, "height": 900})
    page.locator("#review-panel").get_by_role("button", name="市级退回").click()
    reason = page.locator(f"#reason-{submitted_record}")
    expect(reason).to_be_focused()
    expect(reason).to_have_accessible_description(re.compile("请填写退回原因"))
    check(page, "queue-panel-refused", shots_dir)

    page.locator("#review-panel").get_by_role("button", name="审核通过").click()
    expect(page.locator(f"#review-done-{submitted_record}")).to_be_focused()


def test_reserved_share_pages(new_context, outbox, tree, year, shots_dir):
    school = new_context().new_page()
    log_in(school, outbox, tree.budget_unit.phone)
    visit(school, "/reservations/", "reservations", shots_dir)
    school.get_by_role("link", name="开始填报").click()
    expect(school.locator("#figures-form")).to_be_visible()
    check(school, "reservation-step1", shots_dir)
    school.get_by_role("radiogroup", name="食堂类型").get_by_label("本单位自有的食堂").check()
    school.locator("#canteen_total").fill("1000000")
    school.locator("#ratio").fill("100.01")
    expect(school.locator("#ratio-live-error")).to_have_text("预留比例不能超过100%")
    expect(school.locator("#reserved-amount")).to_have_text("-")
    school.locator("#ratio").fill("30")
    expect(school.locator("#reserved-amount")).to_have_text("300,000.00")
    school.get_by_role("radiogroup", name="是否有工会采购需求").get_by_label("否").check()
    school.get_by_role("textbox", name="工会采购备注").fill("本单位无工会采购需求")
    check(school, "reservation-step1-filled", shots_dir)
    school.get_by_role("button", name="下一步").click()
    expect(school.get_by_role("heading", name="核对完善预算单位联系人信息")).to_be_visible()
    check(school, "reservation-step2", shots_dir)
    school.locator("#contact_name").fill("李晓明")
    school.locator("#contact_mobile").fill("13912345678")
    school.get_by_role("button", name="下一步").click()
    expect(school.get_by_role("heading", name=f"确认{year}年度预留份额信息")).to_be_visible()
    check(school, "reservation-step3", shots_dir)


def test_confirmation_pages(app, new_context, outbox, tree, year, shots_dir):
    from portal.extensions import db
    from tests.factories import make_reservation

    with app.app_context():
        make_reservation(tree, year=year)
        db.session.commit()
    superior = new_context().new_page()
    log_in(superior, outbox, tree.superior_budget.phone)
    visit(superior, "/reservations/confirmations", "confirmations", shots_dir)
    finance = new_context().new_page()
    log_in(finance, outbox, tree.province_finance.phone)
    visit(finance, "/reservations/finance", "finance", shots_dir)
