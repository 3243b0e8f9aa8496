"""个人中心 in a real browser, at desktop and phone width: a school opens its personal page from the
header, changes its union contact (a wrong mobile first: the message beside the field, the rest
kept), and its superior sees the new contact, masked, on its confirmation list and on the form's
page, where it asks for the full number."""
import re

import pytest

from portal.extensions import db
from tests.browser.axe import assert_no_serious_violations
from tests.browser.test_accounts_journey import assert_not_reloaded, log_in, mark_page
from tests.factories import make_reservation

expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e .[test])").expect

pytestmark = pytest.mark.browser

UNION_NAME, UNION_MOBILE, UNION_MASKED = "陈工会", "13800001234", "138****1234"


def open_menu(page):
    """A phone's screen folds the header (below Bootstrap's xl, 1200 px): unfold it first."""
    if page.viewport_size["width"] >= 1200:
        return
    menu = page.get_by_role("button", name="展开导航")
    menu.click()
    expect(menu).to_have_attribute("aria-expanded", "true")
    expect(page.locator("#mainNav")).to_have_class(re.compile(r"(^|\s)show(\s|$)"))


def fits_the_screen(page):
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "the page scrolls sideways"


@pytest.mark.parametrize("width", [1280, 390], ids=["desktop", "phone"])
def test_a_school_changes_its_union_contact_and_its_superior_sees_it(app, tree, new_context, outbox, width):
    with app.app_context():
        reservation_id = make_reservation(tree).id  # submitted, waiting for 省教育厅
        db.session.commit()
    size = {"width": width, "height": 900 if width > 500 else 844}

    # ── The school opens 个人中心 from the header.
    school = new_context().new_page()
    school.set_viewport_size(size)
    log_in(school, outbox, tree.budget_unit.phone)
    open_menu(school)
    school.get_by_role("link", name="个人中心").click()
    expect(school.get_by_role("heading", level=1)).to_have_text("个人中心")
    account = school.locator("#my-account")
    expect(account).to_contain_text("省实验中学")
    expect(account).to_contain_text("137****0112")
    expect(account.get_by_role("link", name="查看或设置双因素认证")).to_be_visible()
    card = school.locator("#unit-contacts")
    expect(card).to_contain_text("尚未填写本单位联系人")
    fits_the_screen(school)
    assert_no_serious_violations(school, f"个人中心 at {width} px")

    # ── It fills in its contacts in place (HTMX): a wrong union mobile first.
    mark_page(school)
    card.get_by_role("link", name="填写").click()
    form = school.locator("#contacts-form")
    expect(form.get_by_label("填报预留份额联系人", exact=True)).to_have_value(tree.budget_unit.name)
    form.get_by_label("填报预留份额联系人", exact=True).fill("李晓明")
    form.get_by_label("手机号码", exact=True).fill("13912345678")
    form.get_by_label("固定电话（区号-号码，选填）").fill("020-83133000")
    form.get_by_label("工会采购预留份额联系人（选填）").fill(UNION_NAME)
    form.get_by_label("手机号码（选填）").fill("1380000")
    form.get_by_role("button", name="保存").click()
    expect(school.locator("#field-union_contact_mobile")).to_contain_text("手机号码格式不正确，请输入11位大陆手机号")
    form = school.locator("#contacts-form")
    expect(form.get_by_label("工会采购预留份额联系人（选填）")).to_have_value(UNION_NAME)
    expect(form.get_by_label("手机号码（选填）")).to_have_value("1380000")
    fits_the_screen(school)
    assert_no_serious_violations(school, f"个人中心 form with a message at {width} px")
    form.get_by_label("手机号码（选填）").fill(UNION_MOBILE)
    form.get_by_role("button", name="保存").click()
    union = school.locator("#current-union-contact")
    expect(union).to_contain_text(UNION_NAME)
    expect(union).to_contain_text(UNION_MASKED)
    expect(school.locator("#toasts")).to_contain_text("本单位联系人信息已更新")
    assert UNION_MOBILE not in school.content()
    assert_not_reloaded(school)

    # ── Its superior sees the new contact, masked, on its confirmation list...
    head = new_context().new_page()
    head.set_viewport_size(size)
    log_in(head, outbox, tree.superior_budget.phone)
    head.goto("/reservations/confirmations")
    row = head.get_by_role("row").filter(has_text="省实验中学").first
    expect(row).to_contain_text(UNION_NAME)
    expect(row).to_contain_text(UNION_MASKED)
    assert UNION_MOBILE not in head.content()
    fits_the_screen(head)

    # ...and on the form's page, where it asks for the full number to call.
    row.get_by_role("link", name="确认").click()
    expect(head).to_have_url(re.compile(rf"/reservations/view/{reservation_id}$"))
    current = head.locator("#unit-current-contacts")
    expect(current).to_contain_text(UNION_NAME)
    expect(current).to_contain_text(UNION_MASKED)
    mark_page(head)
    current.locator("dd").filter(has_text=UNION_NAME).get_by_role("button", name="显示完整号码").click()
    expect(current).to_contain_text(UNION_MOBILE)
    assert_not_reloaded(head)
