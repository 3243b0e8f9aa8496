"""Work that the worker does while a person watches (issue 11), in a real browser at desktop and
phone width: a market approves its whole queue (more than a page) and sees the results arrive,
then exports its history as a large export and downloads the file once it is written.

The live server runs a job worker beside it, as `make run` does; the pages poll by HTMX.
"""
import io

import openpyxl
import pytest

from portal.accounts.models import Account
from portal.extensions import db
from tests.browser.test_accounts_journey import log_in
from tests.factories import file_record

expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e .[test])").expect

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("width", [1280, 390], ids=["desktop", "phone"])
def test_approve_the_whole_queue_then_export_it(app, tree, live_server, page, outbox, width):
    app.config["PAGE_SIZE"] = 2
    app.config["EXPORT_INLINE_ROWS"] = 3
    with app.app_context():
        merchant = db.session.get(Account, tree.gz_merchant.id)
        for n in range(5):
            file_record(merchant, app.instance_path, product_name=f"香米{n}")
        db.session.commit()
    page.set_viewport_size({"width": width, "height": 900 if width > 500 else 844})
    log_in(page, outbox, tree.gz_market.phone)

    page.goto("/reviews/")
    page.once("dialog", lambda dialog: dialog.accept())  # 确定审核通过……全部待审核记录吗？
    page.get_by_role("button", name="全部审核通过（符合筛选条件的全部记录）").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("批量审核通过")
    # The worker takes it; the page asks until it is done, then stops asking.
    expect(page.locator("#batch-status")).to_contain_text("处理完成")
    expect(page.locator("#batch-approved")).to_have_text("5")
    expect(page.locator("#batch-status")).not_to_have_attribute("hx-trigger", "every 1s")
    page.get_by_role("link", name="返回待审核列表").click()
    expect(page.locator("#count-pending")).to_have_text("0")

    # Five rows in its history are more than this installation downloads at once.
    page.goto("/reviews/?tab=done")
    page.get_by_role("link", name="导出Excel").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("导出：已审核购销记录")
    download_link = page.get_by_role("link", name="下载 Excel 文件")
    expect(download_link).to_be_visible()
    with page.expect_download() as fetched:
        download_link.click()
    sheet = openpyxl.load_workbook(io.BytesIO(open(fetched.value.path(), "rb").read()), read_only=True).active
    rows = list(sheet.iter_rows(values_only=True))[1:]
    assert sorted(row[11] for row in rows) == [f"香米{n}" for n in range(5)]
