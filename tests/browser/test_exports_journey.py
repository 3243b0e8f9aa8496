"""Lists to Excel and a record to PDF (issue 12, item 6), in a real browser at desktop and phone
width: a merchant filters its own records in place, exports what the list shows (the file
downloads with exactly those rows), opens one of them and downloads it printed as a PDF."""
import io
import re

import openpyxl
import pytest

from portal.accounts.models import Account
from portal.extensions import db
from tests.browser.test_accounts_journey import assert_not_reloaded, log_in, mark_page
from tests.factories import file_record
from tests.test_sheets import pdf_text, squeezed

expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e .[test])").expect

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("width", [1280, 390], ids=["desktop", "phone"])
def test_a_merchant_exports_its_filtered_records_and_prints_one(app, tree, live_server, page, outbox, width):
    with app.app_context():
        merchant = db.session.get(Account, tree.gz_merchant.id)
        rice = [file_record(merchant, app.instance_path, product_name=f"丝苗香米{n}").id for n in range(3)]
        file_record(merchant, app.instance_path, product_name="红富士苹果")
        file_record(db.session.get(Account, tree.sz_merchant.id), app.instance_path, product_name="丝苗香米")
        db.session.commit()
    page.set_viewport_size({"width": width, "height": 900 if width > 500 else 844})
    log_in(page, outbox, tree.gz_merchant.phone)

    page.goto("/records/")
    expect(page.get_by_role("heading", level=1)).to_have_text("我的购销记录")
    mark_page(page)
    page.get_by_label("产品名称").fill("香米")
    page.get_by_role("button", name="查询").click()
    expect(page).to_have_url(re.compile(r"q=%E9%A6%99%E7%B1%B3"))  # 香米, in place
    rows = page.locator("#record-rows tbody tr")
    expect(rows).to_have_count(3)
    assert_not_reloaded(page)

    export = page.get_by_role("link", name="导出Excel")
    expect(export).to_have_attribute("href", re.compile(r"/records/export\?q="))
    with page.expect_download() as fetched:
        export.click()
    assert fetched.value.suggested_filename.startswith("我的购销记录-")
    sheet = openpyxl.load_workbook(io.BytesIO(open(fetched.value.path(), "rb").read()), read_only=True).active
    exported = list(sheet.iter_rows(values_only=True))[1:]
    assert [row[1] for row in exported] == sorted(rice, reverse=True)
    assert {row[2] for row in exported} == {"广州批发商"} and all("香米" in row[11] for row in exported)

    rows.filter(has_text="丝苗香米1").get_by_role("link", name="查看").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"购销记录 {rice[1]}")
    with page.expect_download() as printed:
        page.get_by_role("link", name="打印PDF").click()
    assert printed.value.suggested_filename == f"购销记录-{rice[1]}.pdf"
    text = squeezed(pdf_text(printed.value.path()))
    assert f"购销记录（编号{rice[1]}）" in text and "丝苗香米1" in text and "发票.png" in text
