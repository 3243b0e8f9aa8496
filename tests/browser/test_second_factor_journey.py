"""The second factor in a real browser: an administrator enrols TOTP at the first login (QR code,
or the key typed by hand), keeps the recovery codes, logs out, logs in with the SMS code plus
the app's code, and uses a recovery code once; on a desktop screen and on a phone's."""
import re
import time

import pyotp
import pytest

from tests.browser.conftest import SHOTS
from tests.browser.test_accounts_journey import request_code

expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e .[test])").expect

pytestmark = pytest.mark.browser


def sms_step(page, outbox, phone):
    page.goto("/login")
    request_code(page, phone)
    page.get_by_label("短信验证码").fill(outbox.last_code(phone))
    page.get_by_role("button", name="登录", exact=True).click()


def log_out(page):
    menu = page.get_by_role("button", name="展开导航")
    # A phone's screen folds the menu (below Bootstrap's xl, 1200 px). Decided by the width, not by
    # the button's visibility: before the stylesheet applies, the button shows on any screen.
    if page.viewport_size["width"] < 1200:
        menu.click()
        expect(menu).to_have_attribute("aria-expanded", "true")
        # Bootstrap gives the menu `show` once its unfolding ends; a click during it can miss.
        expect(page.locator("#mainNav")).to_have_class(re.compile(r"(^|\s)show(\s|$)"))
    leave = page.get_by_role("button", name="退出")
    expect(leave).to_be_visible()
    leave.click()
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.get_by_role("heading", name="账号登录")).to_be_visible()


def fits_the_screen(page):
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "the page scrolls sideways"


@pytest.mark.parametrize("width", [1366, 390])
def test_administrator_enrols_logs_in_with_totp_and_uses_a_recovery_code_once(new_context, tree, outbox, width):
    page = new_context().new_page()
    page.set_viewport_size({"width": width, "height": 900})
    phone = tree.province.phone

    # First login: the SMS code, then enrolment, before anything else.
    sms_step(page, outbox, phone)
    expect(page).to_have_url(re.compile(r"/second-factor/enrol$"))
    expect(page.get_by_role("heading", name="绑定双因素认证")).to_be_visible()
    qr = page.get_by_role("img", name=re.compile("双因素认证绑定二维码"))
    expect(qr).to_be_visible()
    assert qr.get_attribute("src").startswith("data:image/png;base64,")
    expect(page.get_by_role("link", name="账号管理")).to_have_count(0)  # no menu until the second factor
    fits_the_screen(page)
    page.screenshot(path=str(SHOTS / f"second-factor-enrol-{width}.png"), full_page=True)

    totp = pyotp.TOTP(page.locator("#totp-secret").inner_text().replace(" ", ""))
    page.get_by_label("验证码").fill("000000" if totp.now() != "000000" else "111111")
    page.get_by_role("button", name="确认绑定").click()
    expect(page.locator("#code-error")).to_contain_text("验证码错误")  # a mistyped code: said, QR kept
    enrolled_step = totp.timecode(time.time())
    page.get_by_label("验证码").fill(totp.generate_otp(enrolled_step))
    page.get_by_role("button", name="确认绑定").click()
    expect(page.get_by_text("仅显示这一次")).to_be_visible()
    codes = page.locator("#recovery-codes li").all_inner_texts()
    assert len(codes) == 10 and all(re.fullmatch(r"[A-Z2-9]{5}-[A-Z2-9]{5}", code) for code in codes)
    fits_the_screen(page)
    page.get_by_role("link", name="我已保存恢复码，继续").click()
    expect(page).to_have_url(re.compile(r"/$"))
    log_out(page)

    # Second login: SMS code, then the app's next code.
    sms_step(page, outbox, phone)
    expect(page).to_have_url(re.compile(r"/second-factor/verify$"))
    page.goto("/accounts/")  # any other page sends back
    expect(page).to_have_url(re.compile(r"/second-factor/verify$"))
    fits_the_screen(page)
    page.get_by_label("验证码").fill(totp.generate_otp(max(totp.timecode(time.time()), enrolled_step + 1)))
    page.get_by_role("button", name="验证", exact=True).click()
    expect(page).to_have_url(re.compile(r"/$"))
    log_out(page)

    # The phone is not at hand: a recovery code, once.
    sms_step(page, outbox, phone)
    page.get_by_label("验证码").fill(codes[3])
    page.get_by_role("button", name="验证", exact=True).click()
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.get_by_role("alert").filter(has_text="已使用一个恢复码")).to_contain_text("剩余9个")
    log_out(page)

    sms_step(page, outbox, phone)
    page.get_by_label("验证码").fill(codes[3])
    page.get_by_role("button", name="验证", exact=True).click()
    expect(page.locator("#code-error")).to_contain_text("恢复码错误或已使用")
    expect(page).to_have_url(re.compile(r"/second-factor/verify$"))
    page.screenshot(path=str(SHOTS / f"second-factor-verify-{width}.png"), full_page=True)
