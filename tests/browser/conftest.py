"""Browser fixtures: the app of tests/conftest.py served on a free local port, and Debian's
Chromium driven by Playwright (sync API).

`playwright install` cannot run here, so the tests use /usr/bin/chromium. Without it the
browser tests are skipped, except on CI (CI=true), where a missing browser is a failure.
"""
import os
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from tests.conftest import run_worker_pass

CHROMIUM = Path(os.environ.get("PORTAL_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SHOTS = Path("/tmp/browser-shots")

#: Playwright's wait for an element or a text, in milliseconds: a page of this portal answers
#: in well under a second, but CI runs the SQLite and PostgreSQL suites side by side on two
#: cores, each with its own Chromium, and a click then waited past 5 s now and again.
TIMEOUT_MS = 15000


def _on_ci():
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


@pytest.fixture(scope="session")
def browser():
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        reason = f"{CHROMIUM} is missing: install Debian's chromium package (playwright install cannot run here)"
        if _on_ci():
            pytest.fail(reason + "; CI is set, so a missing browser is a failure", pytrace=False)
        pytest.skip(reason)
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e .[test])")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        sync_api.expect.set_options(timeout=TIMEOUT_MS)
        yield browser
        browser.close()


@pytest.fixture
def app(app):
    """The app of tests/conftest.py (empty database, reference data, outbox SMS).

    A journey may ask for a second code for the same phone within the minute (the disabled
    merchant who tries again), so the per-minute SMS limit is relaxed; the other limits stay.
    """
    app.config["SMS_LIMIT_PER_MINUTE"] = 5
    # The journeys log in through the form with the graphic captcha off (as tests/conftest.py
    # sets it), but for test_captcha_login_journey.py, which turns it on.
    app.config["LOGIN_CAPTCHA"] = "off"
    return app


@pytest.fixture
def live_server(app, tree):
    """Serve the app with the unit tree on 127.0.0.1 and a free port, with a job worker beside
    it (as `make run` starts one); yields the base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    stop = threading.Event()

    def work():
        while not stop.wait(0.3):
            run_worker_pass(app)

    worker = threading.Thread(target=work, name="job-worker", daemon=True)
    thread.start()
    worker.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        stop.set()
        worker.join(timeout=10)
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def new_context(browser, live_server):
    """Open fresh browser contexts (separate cookie jars: separate people), closed after the test.

    Each context records what a person would not see but a developer must: uncaught script
    errors, console errors and server errors (5xx). The test fails on any of them afterwards.
    """
    contexts, problems = [], []

    def on_console(message):
        # A 4xx the portal answers on purpose (422 with the form and its messages) is logged
        # by Chromium as a failed resource; the responses themselves are checked below.
        if message.type == "error" and "Failed to load resource" not in message.text:
            problems.append(f"console error: {message.text}")

    def on_response(response):
        if response.status >= 500:
            problems.append(f"{response.status} from {response.request.method} {response.url}")

    def make():
        context = browser.new_context(base_url=live_server, locale="zh-CN", timezone_id="Asia/Shanghai",
                                      viewport={"width": 1280, "height": 900})
        context.set_default_timeout(TIMEOUT_MS)
        context.on("weberror", lambda error: problems.append(f"script error: {error.error}"))
        context.on("console", on_console)
        context.on("response", on_response)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()
    assert not problems, "the browser reported problems:\n" + "\n".join(problems)


@pytest.fixture
def page(new_context):
    return new_context().new_page()


@pytest.fixture
def shots_dir():
    SHOTS.mkdir(parents=True, exist_ok=True)
    return SHOTS



#: phone -> (secret, last time step used): what a person's authenticator app holds, and the code
#: they typed last (the portal never takes one twice)
AUTHENTICATORS = {}


def pass_second_factor(page, phone):
    """After the SMS code: an account that has or needs a second factor enrols on its first login
    (the secret read from the page's manual-entry text, as a person types it into the app) or
    gives the app's code; any other account is already home."""
    import re
    import time

    import pyotp

    page.wait_for_url(re.compile(r"/(second-factor/(enrol|verify))?$"))
    if page.url.endswith("/second-factor/enrol"):
        totp = pyotp.TOTP(page.locator("#totp-secret").inner_text().replace(" ", ""))
        step = totp.timecode(time.time())
        page.get_by_label("验证码").fill(totp.generate_otp(step))
        page.get_by_role("button", name="确认绑定").click()
        page.get_by_role("link", name="我已保存恢复码，继续").click()
    elif page.url.endswith("/second-factor/verify"):
        secret, last = AUTHENTICATORS[phone]
        totp = pyotp.TOTP(secret)
        step = max(totp.timecode(time.time()), last + 1)  # the next code when this one was used
        page.get_by_label("验证码").fill(totp.generate_otp(step))
        page.get_by_role("button", name="验证", exact=True).click()
    else:
        return
    AUTHENTICATORS[phone] = (totp.secret, step)
