"""Account journeys in a real browser (Chromium through Playwright), asserting what a person sees.

The login code is read from the SMS outbox file, as a person reads it on their phone.
"""
import re

import pytest

from tests.browser.conftest import SHOTS, pass_second_factor

expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e .[test])").expect

pytestmark = pytest.mark.browser

NEW_UNIT = "广州鲜果批发商行"
NEW_CONTACT = "陈小明"
NEW_PHONE = "13912345678"
NEW_MASKED = "139****5678"


def request_code(page, phone):
    """On the login page: type the phone, press 获取验证码, wait for the answer under the field."""
    page.get_by_label("手机号码").fill(phone)
    page.get_by_role("button", name="获取验证码").click()
    expect(page.locator("#code-status")).to_contain_text("验证码已发送")


def log_in(page, outbox, phone):
    page.goto("/login")
    expect(page.get_by_role("heading", name="账号登录")).to_be_visible()
    request_code(page, phone)
    code = outbox.last_code(phone)
    assert code, f"no code reached {phone}"
    page.get_by_label("短信验证码").fill(code)
    page.get_by_role("button", name="登录", exact=True).click()
    pass_second_factor(page, phone)  # administrators give their TOTP code after the SMS code
    expect(page).to_have_url(re.compile(r"/$"))


def mark_page(page):
    """Put a marker on the window: it survives HTMX swaps and vanishes with a full reload.

    Waits for the page's deferred scripts first: the HTML shows before htmx is ready, and a
    click in between does nothing.
    """
    page.wait_for_load_state("load")
    page.evaluate("window.__sameDocument = 'yes'")


def assert_not_reloaded(page):
    assert page.evaluate("window.__sameDocument") == "yes", "the page was reloaded"


def test_admin_logs_in_and_opens_a_merchant(page, tree, outbox):
    market = tree.gz_market
    assert market.phone == "13700001011"

    # Login: phone, 获取验证码, the code from the SMS, 登录.
    page.goto("/login")
    request_code(page, market.phone)
    expect(page.locator("#code-status")).to_contain_text("137****1011")
    code = outbox.last_code(market.phone)
    assert code
    page.get_by_label("短信验证码").fill(code)
    page.get_by_role("button", name="登录", exact=True).click()
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("广州批发市场")
    expect(page).to_have_title(re.compile("^首页"))

    # 账号管理: the tree's merchant (广州批发商) is listed, the new one not yet.
    page.get_by_role("navigation").get_by_role("link", name="账号管理").click()
    expect(page.get_by_role("heading", name="账号管理")).to_be_visible()
    expect(page.locator("#unit-rows tr")).to_have_count(1)
    expect(page.locator("#unit-rows")).to_contain_text("广州批发商")
    mark_page(page)

    # 开通单位: the form appears inline.
    page.get_by_role("button", name="开通单位").click()
    card = page.locator("#open-unit-card")
    expect(card).to_be_visible()
    expect(card).to_contain_text("开通单位及其管理员账号")
    expect(card.get_by_label("单位类型")).to_have_value("merchant")
    expect(card.locator("#field-city_code")).to_be_hidden()  # a merchant takes the market's city

    # A malformed phone: the message beside the field, the rest kept.
    card.get_by_label("单位名称").fill(NEW_UNIT)
    card.get_by_label("联系人").fill(NEW_CONTACT)
    card.get_by_label("手机号码").fill("1234")
    card.get_by_role("button", name="确认开通").click()
    phone_error = page.locator("#field-phone .invalid-feedback")
    expect(phone_error).to_have_text("手机号码格式不正确，请输入11位大陆手机号")
    expect(card.get_by_label("手机号码")).to_have_class(re.compile(r"\bis-invalid\b"))
    expect(card.get_by_label("单位名称")).to_have_value(NEW_UNIT)
    expect(card.get_by_label("联系人")).to_have_value(NEW_CONTACT)
    expect(card.get_by_label("手机号码")).to_have_value("1234")
    expect(card.get_by_label("单位类型")).to_have_value("merchant")
    expect(page.locator("#field-name .invalid-feedback")).to_have_count(0)
    expect(page.locator("#unit-rows")).not_to_contain_text(NEW_UNIT)
    assert_not_reloaded(page)

    # Corrected: the success text, the new merchant in the table, still the same page.
    card.get_by_label("手机号码").fill(NEW_PHONE)
    card.get_by_role("button", name="确认开通").click()
    expect(card).to_contain_text(f"已开通 {NEW_UNIT}（批发商）")
    expect(card).to_contain_text(NEW_MASKED)
    toast = page.locator("#toasts .toast")
    expect(toast).to_contain_text(f"已开通批发商“{NEW_UNIT}”，管理员账号 {NEW_MASKED}")
    expect(toast).to_be_visible()
    expect(toast).not_to_have_class(re.compile(r"\bshowing\b"))  # faded in: in the screenshot too
    row = page.locator("#unit-rows tr", has_text=NEW_UNIT)
    expect(row).to_have_count(1)
    expect(row).to_contain_text(f"{NEW_CONTACT} {NEW_MASKED}")
    expect(row).to_contain_text("批发商")
    expect(row).to_contain_text("广州市")  # the market's city
    expect(row).to_contain_text("正常")
    expect(page.locator("#unit-rows tr")).to_have_count(2)
    assert_not_reloaded(page)
    assert NEW_PHONE not in page.content()  # the table shows the number masked only

    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "accounts-index.png"), full_page=True)

    # 管理账号: the merchant's account page, phone masked.
    row.get_by_role("link", name="管理账号").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(NEW_UNIT)
    expect(page.locator(".breadcrumb")).to_contain_text("账号管理")
    account_row = page.locator("#account-rows tr", has_text=NEW_CONTACT)
    expect(account_row).to_contain_text(NEW_MASKED)
    expect(account_row).to_contain_text("正常")
    expect(account_row).to_contain_text("从未登录")
    assert NEW_PHONE not in page.content()
    page.screenshot(path=str(SHOTS / "accounts-unit.png"), full_page=True)


def test_admin_disables_a_merchant_who_then_cannot_log_in(new_context, app, tree, outbox):
    from portal.accounts.kinds import UnitKind
    from portal.accounts.models import Account
    from portal.extensions import db
    from tests.factories import open_unit

    with app.app_context():
        market = db.session.get(Account, tree.gz_market.id)
        merchant_id = open_unit(market, UnitKind.MERCHANT, NEW_UNIT, NEW_PHONE, contact=NEW_CONTACT).id
        db.session.commit()

    # The merchant asks for a code while the account still works: it arrives.
    merchant = new_context().new_page()
    merchant.goto("/login")
    request_code(merchant, NEW_PHONE)
    code = outbox.last_code(NEW_PHONE)
    assert code
    merchant.get_by_label("短信验证码").fill(code)

    # Meanwhile the market admin disables the account.
    admin = new_context().new_page()
    log_in(admin, outbox, tree.gz_market.phone)
    admin.get_by_role("navigation").get_by_role("link", name="账号管理").click()
    admin.locator("#unit-rows tr", has_text=NEW_UNIT).get_by_role("link", name="管理账号").click()
    expect(admin.get_by_role("heading", level=1)).to_have_text(NEW_UNIT)
    row = admin.locator(f"#account-{merchant_id}")
    expect(row).to_contain_text("正常")
    mark_page(admin)
    dialogs = []

    def accept(dialog):
        dialogs.append(dialog.message)
        dialog.accept()

    admin.once("dialog", accept)
    row.get_by_role("button", name="停用").click()
    expect(row).to_contain_text("已停用")
    expect(row.get_by_role("button", name="启用")).to_be_visible()
    expect(row.get_by_role("button", name="停用")).to_have_count(0)
    expect(admin.locator("#toasts")).to_contain_text(f"已停用账号 {NEW_MASKED}")
    assert dialogs and f"确定停用 {NEW_CONTACT}（{NEW_MASKED}）吗" in dialogs[0], dialogs
    assert_not_reloaded(admin)
    admin.reload()
    expect(admin.locator(f"#account-{merchant_id}")).to_contain_text("已停用")

    # The merchant presses 登录 with the code that did arrive: refused, in Chinese.
    merchant.get_by_role("button", name="登录", exact=True).click()
    expect(merchant).to_have_url(re.compile(r"/login$"))
    expect(merchant.locator("#phone-error")).to_have_text("该账号已停用，请联系开通账号的单位")
    expect(merchant.get_by_label("手机号码")).to_have_value(NEW_PHONE)

    # Asking again: the page answers as for anyone (no leak), but no code reaches the phone.
    sent_before = len(outbox.messages(NEW_PHONE))
    request_code(merchant, NEW_PHONE)
    assert len(outbox.messages(NEW_PHONE)) == sent_before
    merchant.goto("/")
    expect(merchant).to_have_url(re.compile(r"/login"))


def test_wrong_code_is_refused_beside_the_code_field(page, tree, outbox):
    phone = tree.gz_market.phone
    page.goto("/login")
    request_code(page, phone)
    right = outbox.last_code(phone)
    assert right
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    page.get_by_label("短信验证码").fill(wrong)
    page.get_by_role("button", name="登录", exact=True).click()

    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.locator("#code-error")).to_have_text("验证码错误，还可尝试4次")
    expect(page.get_by_label("短信验证码")).to_have_class(re.compile(r"\bis-invalid\b"))
    expect(page.get_by_label("手机号码")).to_have_value(phone)
    expect(page.get_by_role("link", name="账号管理")).to_have_count(0)  # not logged in


def test_mistyped_phone_can_be_corrected_at_once(page, tree, outbox):
    """A refused send (a malformed number) says why under the code field and leaves 获取验证码
    usable: the person corrects the number and asks again straight away."""
    phone = tree.gz_market.phone
    page.goto("/login")
    page.get_by_label("手机号码").fill(phone[:-1])
    send = page.locator("#send-code")
    send.click()
    expect(page.locator("#code-status")).to_have_text("手机号码格式不正确，请输入11位大陆手机号")
    assert outbox.messages(phone) == []
    expect(send).to_be_enabled(timeout=1500)
    expect(send).to_have_text("获取验证码")

    page.get_by_label("手机号码").fill(phone)
    send.click()
    expect(page.locator("#code-status")).to_contain_text("验证码已发送")
    assert outbox.last_code(phone)
