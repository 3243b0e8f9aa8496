"""Logging in through the graphic captcha (图形验证码) in Chromium, at a desktop's width (1366 px)
and a phone's (390 px): a wrong answer is refused beside the captcha and a new image comes, 换一张
draws another, the right answer (in any case) sends the SMS code, and the code logs in.

The captcha's text is set through CAPTCHA_TEXT_FACTORY, as a person would read it off the image.
"""
import re

import pytest

from tests.browser.conftest import SHOTS

expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e .[test])").expect

pytestmark = pytest.mark.browser

ANSWER = "K7PX"
IMAGE = "#captcha-image"


@pytest.fixture
def app(app):
    app.config["LOGIN_CAPTCHA"] = "on"
    app.config["CAPTCHA_TEXT_FACTORY"] = lambda: ANSWER
    return app


def image_loaded(page, previous_src=None):
    """Wait until the captcha image shows a drawn PNG (a new one, if previous_src is given)."""
    page.wait_for_function(
        """([selector, previous]) => {
            const image = document.querySelector(selector);
            return image && image.complete && image.naturalWidth > 0 && image.src !== previous;
        }""", arg=[IMAGE, previous_src])
    return page.locator(IMAGE).evaluate("image => image.src")


@pytest.mark.parametrize("width", [1366, 390])
def test_log_in_through_the_captcha(new_context, tree, outbox, width):
    page = new_context().new_page()
    page.set_viewport_size({"width": width, "height": 900})
    phone = tree.gz_office.phone
    page.goto("/login")
    expect(page.get_by_role("heading", name="账号登录")).to_be_visible()
    src = image_loaded(page)
    assert page.locator(IMAGE).evaluate("image => image.naturalWidth") == 160

    # Nothing sideways to scroll to, even at a phone's width: the captcha row fits.
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    captcha = page.get_by_label("图形验证码", exact=True)
    send = page.get_by_role("button", name="获取验证码")
    box = captcha.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= width

    # A wrong answer: the message beside the captcha, a new image, the answer field cleared.
    page.get_by_label("手机号码").fill(phone)
    captcha.fill("XXXX")
    send.click()
    expect(page.locator("#captcha-error")).to_have_text("图形验证码错误，请重新输入")
    src = image_loaded(page, src)
    expect(captcha).to_have_value("")
    expect(captcha).to_be_focused()
    assert outbox.messages(phone) == []
    page.screenshot(path=str(SHOTS / f"captcha-wrong-{width}.png"), full_page=True)

    # 换一张 draws another.
    page.get_by_role("button", name="换一张").click()
    src = image_loaded(page, src)

    # The right answer, typed in lower case: the code goes out, the message goes away.
    captcha.fill(ANSWER.lower())
    send.click()
    expect(page.locator("#code-status")).to_contain_text("验证码已发送至 137****1001")
    expect(page.locator("#captcha-error")).to_have_text("")
    code = outbox.last_code(phone)
    assert code
    image_loaded(page, src)  # the captcha was used up: a fresh one is already there

    page.get_by_label("短信验证码").fill(code)
    page.get_by_role("button", name="登录", exact=True).click()
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("广州协作办")
    page.screenshot(path=str(SHOTS / f"captcha-logged-in-{width}.png"), full_page=True)
