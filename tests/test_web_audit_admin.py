"""Who reads which audit rows (三员分立), the page's integrity check, and exports of a filtered
view to Excel and CSV."""
import csv
import io

import pytest
from openpyxl import load_workbook
from sqlalchemy import select, text

from portal.audit import AuditEvent
from portal.extensions import db
from tests.conftest import csrf_token
from tests.test_web_audit import actions, rows, text_of

HTMX = {"HX-Request": "true"}
AUDIT_ADMIN, SECURITY_ADMIN, SYSTEM_ADMIN = "13700000006", "13700000005", "13700000000"
PROVINCE, GZ_OFFICE, GZ_MARKET, GZ_MERCHANT, SZ_OFFICE = (
    "13700000001", "13700001001", "13700001011", "13700001012", "13700003001")
MANY = {"SMS_LIMIT_PER_MINUTE": 100, "SMS_LIMIT_PER_HOUR": 100, "SMS_LIMIT_PER_DAY": 100}


@pytest.fixture
def busy(app_factory, app, tree, login):
    """Every one of these accounts has logged in once (a 登录 row of its unit)."""
    busy_app = app_factory(**MANY)
    for phone in (SYSTEM_ADMIN, SECURITY_ADMIN, PROVINCE, GZ_OFFICE, GZ_MARKET, GZ_MERCHANT, SZ_OFFICE):
        login(busy_app.test_client(), phone)
    return busy_app


def units_seen(client, path="/audit/?action=login"):
    return {row[2] for row in rows(client.get(path))}


def test_the_audit_admin_reads_everyone_including_the_other_administrators(busy, login):
    client = login(busy.test_client(), AUDIT_ADMIN)
    seen = units_seen(client)
    assert {"广州协作办", "深圳协作办", "广州批发商", "省协作办"} <= seen
    who = {row[1].split()[0] for row in rows(client.get("/audit/?action=login"))}
    assert {"系统管理员", "安全管理员"} <= who


@pytest.mark.parametrize("phone, sees, not_sees", [
    (PROVINCE, {"省协作办", "广州协作办", "深圳协作办", "广州批发市场", "广州批发商"}, set()),
    (GZ_OFFICE, {"广州协作办", "广州批发市场", "广州批发商"}, {"深圳协作办", "省协作办"}),
    (GZ_MARKET, {"广州批发市场", "广州批发商"}, {"广州协作办", "深圳协作办"}),
    (GZ_MERCHANT, {"广州批发商"}, {"广州批发市场"}),
])
def test_a_unit_admin_reads_its_own_subtree_only(busy, login, phone, sees, not_sees):
    client = login(busy.test_client(), phone)
    seen = units_seen(client)
    assert sees <= seen, seen
    assert not (seen & not_sees), seen
    who = {row[1].split()[0] for row in rows(client.get("/audit/?action=login"))}
    assert not who & {"系统管理员", "安全管理员", "审计管理员"}


@pytest.mark.parametrize("phone", [SYSTEM_ADMIN, SECURITY_ADMIN, "13700000002", "13700001002"])
def test_system_and_security_admins_and_staff_read_nothing(busy, login, phone):
    client = login(busy.test_client(), phone)
    for path in ("/audit/", "/audit/export?format=csv", "/audit/export?format=xlsx"):
        assert client.get(path).status_code == 403, path
    assert client.post("/audit/verify", data={"csrf_token": csrf_token(client, "/")}).status_code == 403


def test_only_the_audit_admin_verifies(busy, login):
    office = login(busy.test_client(), GZ_OFFICE)
    assert 'action="/audit/verify"' not in text_of(office.get("/audit/"))
    assert office.post("/audit/verify", data={"csrf_token": csrf_token(office, "/audit/")}).status_code == 403


def tamper(app, sql, **params):
    with app.app_context():
        with db.engine.begin() as conn:
            postgres = conn.dialect.name == "postgresql"
            if postgres:
                conn.execute(text("ALTER TABLE audit_event DISABLE TRIGGER audit_event_append_only"))
            conn.execute(text(sql), params)
            if postgres:
                conn.execute(text("ALTER TABLE audit_event ENABLE TRIGGER audit_event_append_only"))


def test_the_page_verifies_the_chain_and_names_the_first_changed_row(busy, login):
    client = login(busy.test_client(), AUDIT_ADMIN)
    page = client.get("/audit/")
    assert 'action="/audit/verify"' in text_of(page) and "校验日志完整性</button>" in text_of(page)
    token = csrf_token(client, "/audit/")
    intact = client.post("/audit/verify", data={"csrf_token": token})
    assert intact.status_code == 200 and "日志完整：已校验第1至第" in text_of(intact)
    with busy.app_context():
        target = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "login")
                                    .order_by(AuditEvent.id)).first()
        seq, event_id = target.seq, target.id
    tamper(busy, "UPDATE audit_event SET ip = '192.0.2.1' WHERE id = :id", id=event_id)
    broken = client.post("/audit/verify", data={"csrf_token": token}, headers=HTMX)
    assert broken.status_code == 200 and "<html" not in text_of(broken)
    assert f"日志完整性校验未通过：第{seq}条日志（编号{event_id}）内容被修改" in text_of(broken)
    # the check itself is in the trail, with its result
    checks = rows(client.get("/audit/?action=audit_verified"))
    assert [row[5] for row in checks] == ["失败", "成功"]


def test_export_csv_applies_filters_and_scope(busy, login):
    client = login(busy.test_client(), GZ_OFFICE)
    response = client.get("/audit/export?format=csv&action=login")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in response.headers["Content-Disposition"]
    body = response.get_data()
    assert body.startswith("\ufeff".encode("utf-8"))
    table = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert table[0][:3] == ["序号", "时间", "操作人"]
    assert table[1:] and {line[5] for line in table[1:]} == {"登录"}
    assert {line[4] for line in table[1:]} == {"广州协作办", "广州批发市场", "广州批发商"}
    assert not any("13700001001" in cell for line in table for cell in line)  # masked numbers only
    assert "导出操作日志" in actions(login(busy.test_client(), AUDIT_ADMIN).get("/audit/?action=audit_exported"))


def test_export_xlsx_of_everyone_for_the_audit_admin_bounded(app_factory, busy, login):
    client = login(busy.test_client(), AUDIT_ADMIN)
    response = client.get(f"/audit/export?format=xlsx&action=login&phone={SYSTEM_ADMIN}")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.get_data())).active
    values = list(sheet.iter_rows(values_only=True))
    assert values[0][0] == "序号" and len(values) == 2
    assert values[1][2] == "系统管理员" and values[1][5] == "登录"
    small = app_factory(**MANY, EXPORT_MAX_ROWS=2)
    bounded = login(small.test_client(), AUDIT_ADMIN).get("/audit/export?format=xlsx")
    assert len(list(load_workbook(io.BytesIO(bounded.get_data())).active.iter_rows())) == 3


@pytest.mark.parametrize("query", ["format=pdf", "format=csv&start=2024-13-45", "format=xlsx&phone=123"])
def test_export_with_an_unreadable_filter_is_a_400(busy, login, query):
    client = login(busy.test_client(), AUDIT_ADMIN)
    assert client.get(f"/audit/export?{query}").status_code == 400


def test_the_page_links_exports_with_its_filters(busy, login):
    client = login(busy.test_client(), AUDIT_ADMIN)
    page = text_of(client.get("/audit/?action=login&result=ok", headers=HTMX))
    assert "/audit/export?format=xlsx&amp;action=login&amp;result=ok" in page
    assert "/audit/export?format=csv&amp;action=login&amp;result=ok" in page


# --- what the trail records: files and refusals ------------------------------------------------

def trail(app, action):
    with app.app_context():
        return [(event.account_id, event.unit_id, event.object_ref, event.result, event.ip, event.detail_data)
                for event in db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)
                                                .order_by(AuditEvent.id))]


def test_a_404_on_an_object_id_is_in_the_trail(app, tree, login):
    client = login(app.test_client(), GZ_MERCHANT)
    assert client.get("/records/987654").status_code == 404
    [(account_id, unit_id, target, result, ip, detail)] = trail(app, "refused")
    assert (account_id, unit_id) == (tree.gz_merchant.id, tree.gz_merchant.unit_id)
    assert (target, result, detail["状态"]) == ("records.detail:987654", "denied", 404)
    assert ip == "127.0.0.1"
    audit_admin = login(app.test_client(), AUDIT_ADMIN)
    table = rows(audit_admin.get("/audit/?action=refused"))
    assert table and table[0][3] == "越权或无效访问" and table[0][5] == "拒绝"


def test_a_403_is_in_the_trail(app, tree, login):
    client = login(app.test_client(), "13700001002")  # a staff reviewer
    assert client.get("/audit/").status_code == 403
    [(account_id, _, target, result, _, detail)] = trail(app, "refused")
    assert account_id == tree.gz_reviewer.id and result == "denied" and detail["状态"] == 403
    assert target == "audit_log.index"


def test_a_404_without_an_object_id_is_not(app, tree, login):
    client = login(app.test_client(), GZ_MERCHANT)
    assert client.get("/no-such-page").status_code == 404
    assert trail(app, "refused") == []


def test_exports_and_downloads_are_in_the_trail(app, tree, login):
    office = login(app.test_client(), GZ_OFFICE)
    assert office.get("/reviews/export").status_code == 200
    [(account_id, unit_id, target, result, _, detail)] = trail(app, "export")
    assert (account_id, unit_id, target, result) == (tree.gz_office.id, tree.gz_office.unit_id, "reviews.export", "ok")
    assert detail["路径"] == "/reviews/export"
    finance = login(app.test_client(), "13700000101")
    assert finance.get("/budget-units/template").status_code == 200
    assert [row[2] for row in trail(app, "export")] == ["reviews.export", "budget_units.template"]


def test_a_voucher_download_is_in_the_trail(app, tree, login):
    from portal.accounts.models import Account
    from tests.factories import file_record

    with app.app_context():
        record = file_record(db.session.get(Account, tree.gz_merchant.id), app.instance_path)
        db.session.commit()
        record_id, voucher_id = record.id, record.vouchers[0].id
    merchant = login(app.test_client(), GZ_MERCHANT)
    assert merchant.get(f"/records/{record_id}/vouchers/{voucher_id}").status_code == 200
    [(account_id, _, target, result, _, _)] = trail(app, "download")
    assert account_id == tree.gz_merchant.id and result == "ok"
    assert target == f"records.voucher_file:{record_id}/{voucher_id}"


def test_a_number_typed_into_a_query_is_kept_masked_in_the_trail(app, tree, login):
    office = login(app.test_client(), GZ_OFFICE)
    assert office.get("/reviews/export?q=13912345678").status_code == 200
    [(*_, detail)] = trail(app, "export")
    assert detail["路径"] == "/reviews/export?q=139****5678"
