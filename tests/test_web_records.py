"""The purchase-record pages through HTTP: forms that keep what was typed, refusals that change
nothing, batch approval, queue filters, the Excel export and the totals of a city office."""
import io
import json
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from portal.accounts.models import Account
from portal.clock import to_china, utcnow
from portal.errors import ValidationFailed
from portal.extensions import db
from portal.records import exports, service, vouchers, workflow
from portal.records.models import PurchaseRecord, ReviewEvent
from portal.reference.models import DictionaryEntry
from tests.conftest import csrf_token
from tests.records_helpers import PNG, record_form

THRESHOLD = Decimal("500000")


def _post(client, url, data, headers=None, **kwargs):
    token = csrf_token(client, "/")
    return client.post(url, data={**data, "csrf_token": token}, headers={"X-CSRFToken": token, **(headers or {})},
                       **kwargs)


def _field_block(page, name):
    """The HTML of one form field's wrapper: label, control and the message beside it."""
    start = page.index(f'id="field-{name}"')
    end = page.find('id="field-', start + 10)
    return page[start:end if end != -1 else len(page)]


def _input_value(page, name):
    match = re.search(rf'<input[^>]*name="{name}"[^>]*>', page)
    value = re.search(r'value="([^"]*)"', match.group(0)) if match else None
    return value.group(1) if value else None


def _rows(page):
    return {int(i) for i in re.findall(r'id="queue-row-(\d+)"', page)}


class Records:
    """Records made through the domain operations, in the app's own transactions."""

    def __init__(self, app, tree):
        self.app, self.tree = app, tree
        self.n = 0

    def account(self, role):
        return db.session.get(Account, getattr(self.tree, role).id)

    def make(self, role, steps=("submit",), **overrides):
        """steps: submit, first (approve at the market / supermarket), city (approve at the office)."""
        with self.app.app_context():
            filer = self.account(role)
            record = service.create_draft(filer, record_form(**overrides))
            self.n += 1
            vouchers.add_voucher(filer, record, io.BytesIO(PNG + str(self.n).encode()), "发票.png", "invoice",
                                 root=vouchers.voucher_root(self.app.instance_path), max_bytes=1024 * 1024)
            for step in steps:
                if step == "submit":
                    workflow.submit(filer, record, amount_threshold=THRESHOLD)
                elif step == "first":
                    reviewer = db.session.get(Account, {
                        "gz_merchant": self.tree.gz_market, "gz_store": self.tree.gz_supermarket,
                        "sz_merchant": self.tree.sz_market, "sz_store": self.tree.sz_supermarket}[role].id)
                    workflow.approve(reviewer, record, expected_version=record.version)
                elif step == "city":
                    office = self.account("gz_office" if record.city_scope == "440100" else "sz_office")
                    workflow.approve(office, record, expected_version=record.version)
            db.session.commit()
            return record.id

    def get(self, record_id):
        with self.app.app_context():
            record = db.session.get(PurchaseRecord, record_id)
            return dict(status=record.status, version=record.version, amount=record.amount,
                        product_name=record.product_name, quantity=record.quantity, updated_at=record.updated_at,
                        events=len(record.events), return_reason=record.return_reason)


@pytest.fixture
def records(app, tree):
    return Records(app, tree)


def test_bad_input_is_shown_beside_the_field_with_the_typed_values_kept(app, as_role):
    merchant = as_role("gz_merchant")
    with app.app_context():
        form = record_form(amount="12.345", product_name="富硒大米", quantity="2.5")
    response = _post(merchant, "/records/new", form)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "采购金额最多保留2位小数" in _field_block(page, "amount")
    assert "最多保留2位小数" not in _field_block(page, "product_name")
    assert 'aria-describedby="amount-error amount-hint"' in _field_block(page, "amount")
    assert _input_value(page, "product_name") == "富硒大米"
    assert _input_value(page, "amount") == "12.345"
    assert _input_value(page, "quantity") == "2.5"
    # The chosen county stays chosen.
    assert re.search(r'<option selected value="451225">|<option value="451225" selected', page)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(PurchaseRecord)) == 0

    # Several mistakes at once, each beside its own field.
    with app.app_context():
        form = record_form(quantity="-3", origin_county_code="653101")
    page = _post(merchant, "/records/new", form).get_data(as_text=True)
    assert "采购数量必须大于0" in _field_block(page, "quantity")
    assert "所选区县不属于所选城市" in _field_block(page, "origin_county_code")


def test_a_bad_edit_changes_nothing_and_keeps_what_was_typed(app, records, as_role):
    record_id = records.make("gz_merchant", steps=())
    before = records.get(record_id)
    with app.app_context():
        form = record_form(quantity="abc", product_name="香米")
    response = _post(as_role("gz_merchant"), f"/records/{record_id}/edit",
                     {**form, "version": before["version"], "action": "save"})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "采购数量只能输入数字和小数点" in _field_block(page, "quantity")
    assert _input_value(page, "product_name") == "香米" and _input_value(page, "quantity") == "abc"
    assert records.get(record_id) == before


def test_a_submitted_record_cannot_be_edited(app, records, as_role):
    record_id = records.make("gz_merchant")
    before = records.get(record_id)
    merchant = as_role("gz_merchant")
    page = merchant.get(f"/records/{record_id}/edit")
    assert page.status_code == 302 and page.headers["Location"].endswith(f"/records/{record_id}")
    assert "不能修改" in merchant.get(page.headers["Location"]).get_data(as_text=True)
    with app.app_context():
        form = record_form(amount="1.00", product_name="改过的名字")
    for action in ("save", "submit"):
        forged = _post(merchant, f"/records/{record_id}/edit", {**form, "version": before["version"], "action": action})
        assert forged.status_code == 302
        assert records.get(record_id) == before
    # Another merchant does not even learn that the record exists.
    assert _post(as_role("sz_merchant"), f"/records/{record_id}/edit",
                 {**form, "version": before["version"]}).status_code == 404
    assert as_role("sz_merchant").get(f"/records/{record_id}/edit").status_code == 404
    assert records.get(record_id) == before


def test_forged_reviews_are_refused(app, records, as_role):
    at_city = records.make("gz_enterprise")
    at_market = records.make("gz_merchant")
    before = {rid: records.get(rid) for rid in (at_city, at_market)}
    for rid in (at_city, at_market):
        version = before[rid]["version"]
        # A reviewer of another city: the record does not exist for them.
        for decision in ("approve", "return"):
            response = _post(as_role("sz_reviewer"), f"/reviews/{rid}/act",
                             {"decision": decision, "version": version, "reason": "x"})
            assert response.status_code == 404
        assert as_role("sz_reviewer").get(f"/reviews/{rid}/panel").status_code == 404
        # Another city's market, and the province office, likewise.
        assert _post(as_role("sz_market"), f"/reviews/{rid}/act",
                     {"decision": "approve", "version": version}).status_code == 404
        assert _post(as_role("province"), f"/reviews/{rid}/act",
                     {"decision": "approve", "version": version}).status_code == 404
        # A filer is no reviewer at all.
        assert _post(as_role("gz_enterprise"), f"/reviews/{rid}/act",
                     {"decision": "approve", "version": version}).status_code == 403
    # The city does not see a merchant's record the market has not approved yet.
    assert _post(as_role("gz_reviewer"), f"/reviews/{at_market}/act",
                 {"decision": "approve", "version": before[at_market]["version"]}).status_code == 404
    assert {rid: records.get(rid) for rid in (at_city, at_market)} == before


def test_batch_approve_reports_what_it_did_not_do(app, records, as_role):
    ok_1 = records.make("gz_enterprise", product_name="甲")
    ok_2 = records.make("gz_merchant", steps=("submit", "first"), product_name="乙")
    stale = records.make("gz_ecommerce", product_name="丙")
    foreign = records.make("sz_enterprise", product_name="丁")
    not_yet = records.make("gz_merchant", product_name="戊")  # still at the market
    versions = {rid: records.get(rid)["version"] for rid in (ok_1, ok_2, stale, foreign, not_yet)}

    reviewer = as_role("gz_reviewer")
    # The other account of the office approves `stale` first, from the version both saw.
    assert _post(as_role("gz_office"), f"/reviews/{stale}/act",
                 {"decision": "approve", "version": versions[stale]}).status_code == 302
    selected = [f"{rid}:{versions[rid]}" for rid in (ok_1, ok_2, stale, foreign, not_yet)] + ["abc:1"]
    response = _post(reviewer, "/reviews/batch-approve", {"selected": selected}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    toast = json.loads(response.headers["HX-Trigger"])["toast"]
    assert toast["message"] == "已审核通过 2 条，4 条未处理" and toast["level"] == "warning"
    page = response.get_data(as_text=True)
    assert f"{foreign}：无权审核" in page and f"{not_yet}：无权审核" in page and "abc：无权审核" in page
    stale_line = re.search(rf"<div>{stale}：([^<]+)</div>", page).group(1)
    assert "广州协作办" in stale_line and "您的操作未执行" in stale_line

    assert records.get(ok_1)["status"] == records.get(ok_2)["status"] == "approved"
    assert records.get(stale)["status"] == "approved"
    assert records.get(foreign)["status"] == "submitted" and records.get(not_yet)["status"] == "filed"
    with app.app_context():
        approvals = db.session.scalars(select(ReviewEvent.record_id).where(ReviewEvent.action == "approve",
                                                                           ReviewEvent.to_status == "approved"))
        assert sorted(approvals) == sorted([ok_1, ok_2, stale])

    # Without HTMX: a redirect to the queue, the summary flashed there.
    again = _post(reviewer, "/reviews/batch-approve", {"selected": [f"{foreign}:{versions[foreign]}"]})
    assert again.status_code == 302
    assert "已审核通过 0 条，1 条未处理" in reviewer.get(again.headers["Location"]).get_data(as_text=True)
    assert records.get(foreign)["status"] == "submitted"


@pytest.fixture
def queue(app, records):
    with app.app_context():
        ids = {e.name: str(e.id) for e in db.session.scalars(select(DictionaryEntry).where(
            DictionaryEntry.kind == "category"))}
    guizhou = dict(origin_province_code="520000", origin_city_code="520500", origin_county_code="520525")
    kashgar = dict(origin_province_code="650000", origin_city_code="653100", origin_county_code="653101")
    made = {
        "rice": records.make("gz_enterprise", product_name="大米", amount="1000.00"),
        "passion": records.make("gz_ecommerce", product_name="百香果", amount="5000.00", category_id=ids["水果"],
                                **guizhou),
        "big": records.make("gz_merchant", steps=("submit", "first"), product_name="香米", amount="600000.00",
                            **kashgar),
        "tea": records.make("gz_store", steps=("submit", "first"), product_name="绿茶", amount="300.00",
                            category_id=ids["茶叶"]),
        "kiwi": records.make("gz_market", product_name="猕猴桃", amount="8000.00", category_id=ids["水果"], **guizhou),
        # not in the Guangzhou office's pending queue:
        "sz": records.make("sz_enterprise", product_name="大米", amount="1000.00"),
        "filed": records.make("gz_merchant", product_name="大米", amount="1000.00"),
        "draft": records.make("gz_enterprise", steps=(), product_name="大米", amount="1000.00"),
        "approved": records.make("gz_enterprise", steps=("submit", "city"), product_name="大米", amount="1000.00"),
    }
    made["categories"] = ids
    return made


def test_queue_filters_narrow_the_rows(queue, as_role):
    reviewer = as_role("gz_reviewer")
    q = queue
    pending = {q[k] for k in ("rice", "passion", "big", "tea", "kiwi")}
    page = reviewer.get("/reviews/").get_data(as_text=True)
    assert _rows(page) == pending
    assert 'id="count-pending">5<' in page
    # The big amount carries its warning in the row.
    big_row = page[page.index(f'id="queue-row-{q["big"]}"'):]
    assert "金额超过预警线" in big_row[:big_row.index("</tr>")]
    today = to_china(utcnow()).date()
    one_day = timedelta(days=1)
    cases = {
        "channel=ecommerce": {q["passion"]},
        "channel=market": {q["big"], q["kiwi"]},
        "channel=supermarket": {q["tea"]},
        f"category_id={q['categories']['水果']}": {q["passion"], q["kiwi"]},
        "region_code=520000": {q["passion"], q["kiwi"]},
        "region_code=451225": {q["rice"], q["tea"]},
        "region_code=653100": {q["big"]},
        "min_amount=5000": {q["passion"], q["big"], q["kiwi"]},
        "max_amount=1000": {q["rice"], q["tea"]},
        "min_amount=1000&max_amount=8000": {q["rice"], q["passion"], q["kiwi"]},
        "q=香米": {q["big"]},
        "q=门店": {q["tea"]},
        "q=电商": {q["passion"]},
        f"channel=market&category_id={q['categories']['水果']}": {q["kiwi"]},
        "q=不存在的产品": set(),
        # Submission dates are China calendar days.
        f"start={today}": pending,
        f"end={today}": pending,
        f"start={today}&end={today}": pending,
        f"start={today + one_day}": set(),
        f"end={today - one_day}": set(),
        # A malformed filter is left out, and the page says so (422).
        "min_amount=abc&channel=nonsense": pending,
    }
    for args, expected in cases.items():
        response = reviewer.get(f"/reviews/?{args}")
        assert response.status_code == (422 if "abc" in args else 200)
        if "abc" in args:
            assert "最低金额只能输入数字和小数点，已忽略该条件" in response.get_data(as_text=True)
        assert _rows(response.get_data(as_text=True)) == expected, args
        # The HTMX refresh of the table body narrows the same way.
        fragment = reviewer.get(f"/reviews/?{args}", headers={"HX-Request": "true"}).get_data(as_text=True)
        assert _rows(fragment) == expected, args

    # The market's queue holds only its merchant's filed record.
    assert _rows(as_role("gz_market").get("/reviews/").get_data(as_text=True)) == {q["filed"]}
    # The done tab of the office lists what it acted on.
    assert _rows(as_role("gz_office").get("/reviews/?tab=done").get_data(as_text=True)) == {q["approved"]}


def _sheet(response):
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    assert "attachment" in response.headers["Content-Disposition"]
    workbook = load_workbook(io.BytesIO(response.data))
    sheet = workbook.worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    return rows[0], rows[1:]


def test_export_has_chinese_headers_and_only_the_visible_rows(queue, as_role):
    q = queue
    reviewer = as_role("gz_reviewer")
    header, rows = _sheet(reviewer.get("/reviews/export"))
    assert list(header) == [header for header, _, _ in exports.COLUMNS]
    assert {"填写单位", "产地区县", "采购金额（元）", "状态"} <= set(header)
    ids = [row[1] for row in rows]
    assert set(ids) == {q[k] for k in ("rice", "passion", "big", "tea", "kiwi")}
    assert [row[0] for row in rows] == list(range(1, len(rows) + 1))
    by_id = {row[1]: dict(zip(header, row)) for row in rows}
    big = by_id[q["big"]]
    assert big["填写单位"] == "广州批发商" and big["渠道"] == "批发市场" and big["产地区县"] == "喀什市"
    assert Decimal(str(big["采购金额（元）"])) == Decimal("600000") and big["状态"] == "已提交"
    assert big["产品名称"] == "香米"

    # Filters narrow the export as they narrow the page.
    _, rows = _sheet(reviewer.get("/reviews/export?channel=market"))
    assert {row[1] for row in rows} == {q["big"], q["kiwi"]}
    # The done tab is the office's, whichever of its accounts acted.
    for role in ("gz_reviewer", "gz_office"):
        _, rows = _sheet(as_role(role).get("/reviews/export?tab=done"))
        assert [row[1] for row in rows] == [q["approved"]]
    _, rows = _sheet(as_role("sz_reviewer").get("/reviews/export?tab=done"))
    assert rows == []
    # Another city's export holds only its own record; a market's only its merchants'.
    _, rows = _sheet(as_role("sz_reviewer").get("/reviews/export"))
    assert [row[1] for row in rows] == [q["sz"]]
    _, rows = _sheet(as_role("gz_market").get("/reviews/export"))
    assert [row[1] for row in rows] == [q["filed"]]
    # A filer has no export.
    assert as_role("gz_enterprise").get("/reviews/export").status_code == 403


def test_export_never_turns_typed_text_into_a_formula(app, records, as_role):
    name = '=HYPERLINK("http://example.com","点我")'
    try:
        record_id = records.make("gz_enterprise", product_name=name)
    except ValidationFailed:  # refusing such a name at entry is a fix too
        return
    response = as_role("gz_reviewer").get("/reviews/export")
    workbook = load_workbook(io.BytesIO(response.data))
    sheet = workbook.worksheets[0]
    header = [cell.value for cell in sheet[1]]
    row = next(r for r in sheet.iter_rows(min_row=2) if r[1].value == record_id)
    cell = row[header.index("产品名称")]
    assert cell.data_type == "s", f"{cell.value!r} is stored as a formula"
    assert cell.value.lstrip("'") == name


def test_a_city_office_sees_only_its_own_totals_whatever_the_url_says(records, as_role):
    records.make("gz_enterprise", steps=("submit", "city"), amount="1234.56")
    records.make("gz_ecommerce", steps=("submit", "city"), amount="1000.00")
    records.make("sz_enterprise", steps=("submit", "city"), amount="9876.54")
    records.make("gz_enterprise", amount="7777.77")  # submitted, not approved

    def totals(page):
        count = re.search(r'id="total-count">(\d+)<', page).group(1)
        amount = re.search(r'id="total-amount">([^<]+)<', page).group(1)
        return int(count), amount

    office = as_role("gz_office")
    for url in ("/reports/", "/reports/?city_scope=440300", "/reports/?city_scope=440000", "/reports/?city_scope="):
        page = office.get(url).get_data(as_text=True)
        assert totals(page) == (2, "2,234.56"), url
        assert "9,876.54" not in page and "7,777.77" not in page
        assert 'id="by-city"' not in page
    # The HTMX refresh holds to the same city.
    fragment = office.get("/reports/?city_scope=440300", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert totals(fragment) == (2, "2,234.56")

    assert totals(as_role("sz_reviewer").get("/reports/?city_scope=440100").get_data(as_text=True)) == (1, "9,876.54")
    province = as_role("province")
    assert totals(province.get("/reports/").get_data(as_text=True)) == (3, "12,111.10")
    assert totals(province.get("/reports/?city_scope=440300").get_data(as_text=True)) == (1, "9,876.54")
    # Filers and finance have no totals page.
    assert as_role("gz_market").get("/reports/").status_code == 403


def _sheets(response):
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    book = load_workbook(io.BytesIO(response.data))
    return {sheet.title: [list(row) for row in sheet.iter_rows(values_only=True)] for sheet in book.worksheets}


def test_the_totals_export_follows_the_filters_and_the_city(records, as_role):
    records.make("gz_enterprise", steps=("submit", "city"), amount="1234.56")
    records.make("gz_ecommerce", steps=("submit", "city"), amount="1000.00")
    records.make("sz_enterprise", steps=("submit", "city"), amount="9876.54")

    province = as_role("province")
    link = re.search(r'id="export-totals" href="([^"]+)"', province.get("/reports/?channel=enterprise")
                     .get_data(as_text=True)).group(1).replace("&amp;", "&")
    assert "channel=enterprise" in link
    book = _sheets(province.get(link))
    assert book["合计"][1] == ["审核通过记录合计", 2, 11111.10]
    assert ["渠道", "企业"] in book["筛选条件"]
    assert [row[0] for row in book["按地级市"][1:]] == ["深圳市", "广州市"]
    assert book["按渠道"][1:] == [["企业", 2, 11111.10]]
    assert list(book) == ["合计", "筛选条件", "按地级市", "按渠道", "按品类", "按填报类型", "按产地省份",
                          "重点帮扶县", "按产地区县"]

    # A city office's export is its own city, whatever the URL asks; no 按地级市 sheet.
    office = _sheets(as_role("gz_office").get("/reports/export?city_scope=440300"))
    assert office["合计"][1] == ["审核通过记录合计", 2, 2234.56]
    assert ["地级市", "广州市"] in office["筛选条件"] and "按地级市" not in office
    assert as_role("gz_market").get("/reports/export").status_code == 403
