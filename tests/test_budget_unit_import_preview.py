"""The budget-unit import in two steps: an upload is checked and previewed (what each row will
become, counts per kind, nothing written, the file staged for this account), then 确认导入 checks
the staged file again against the units as they are then and opens every unit or none, or 取消
drops it. A file that changed meaning meanwhile is refused (errors) or shown again (a new plan)."""
import io
import re

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select, update

from portal.accounts import service
from portal.accounts.kinds import UnitKind
from portal.accounts.models import Account, Unit
from portal.extensions import db
from portal.reservations import unit_changes, unit_import
from portal.staged_uploads import StagedUpload
from tests.conftest import csrf_token
from tests.test_unit_import import (
    HEADER, PROVINCE_FINANCE, account_of, code, confirm, good_rows, logged_in_client, preview_form, unit_count,
    upload_file, xlsx,
)


def staged_count(purpose="budget_units"):
    """Files waiting for 确认导入 (or, for "budget_units_errors", annotated files kept)."""
    return db.session.scalar(select(func.count(StagedUpload.id)).where(StagedUpload.purpose == purpose))


# --- the domain ---------------------------------------------------------------------------------

def test_the_preview_says_what_each_row_becomes_and_writes_nothing(ctx, tree):
    finance = db.session.get(Account, tree.province_finance.id)
    before = unit_count()
    result = unit_import.preview_budget_units(finance, xlsx(good_rows()))
    assert result.ok and result.opened == [] and not db.session.new
    assert unit_count() == before
    assert [(p.row.name, p.kind) for p in result.plan] == [
        ("省卫生健康委员会", "new_head"),  # its subordinate is in the file: a new department
        ("省人民医院", "under_file"),
        ("省人民医院惠福分院", "under_file"),
        ("省实验中学附属小学", "under_existing"),
        ("省档案馆", "new_direct"),
    ]
    plan = {p.row.name: p for p in result.plan}
    assert plan["省人民医院"].superior.number == 2 and plan["省人民医院惠福分院"].superior.name == "省人民医院"
    assert plan["省实验中学附属小学"].superior.id == tree.superior_budget.unit_id
    assert plan["省档案馆"].superior is None
    assert plan["省档案馆"].masked_phone == "139****0005"
    assert result.counts() == [("新开通·主管预算单位", 1), ("新开通·直属本财政部门", 1),
                               ("新开通·隶属已开通单位", 1), ("新开通·隶属本文件中的单位", 2)]
    assert re.fullmatch(r"[0-9a-f]{32}", result.fingerprint)
    assert unit_import.preview_budget_units(finance, xlsx(good_rows())).fingerprint == result.fingerprint


def test_an_import_goes_ahead_only_on_the_plan_previewed(ctx, tree):
    finance = db.session.get(Account, tree.province_finance.id)
    previewed = unit_import.preview_budget_units(finance, xlsx(good_rows())).fingerprint
    before = unit_count()
    other = unit_import.import_budget_units(finance, xlsx(good_rows()), expected_plan="0" * 32)
    assert other.plan_changed and other.ok and other.opened == [] and unit_count() == before
    assert not db.session.new
    result = unit_import.import_budget_units(finance, xlsx(good_rows()), expected_plan=previewed)
    assert not result.plan_changed and len(result.opened) == 5


def test_a_preview_with_wrong_rows_has_no_plan(ctx, tree):
    finance = db.session.get(Account, tree.province_finance.id)
    rows = good_rows()
    rows[1][2] = "x"
    result = unit_import.preview_budget_units(finance, xlsx(rows))
    assert result.errors == {3: ["统一社会信用代码不正确（应为18位，且校验位正确）"]} and result.plan == []


# --- over HTTP ----------------------------------------------------------------------------------

def test_upload_preview_then_confirm(app, tree, login):
    client = logged_in_client(app, login, PROVINCE_FINANCE)
    with app.app_context():
        before = unit_count()
    response = upload_file(client, xlsx(good_rows()), filename="2025年新增单位.xlsx")
    page = response.get_data(as_text=True)
    assert response.status_code == 200, page
    assert "导入预览：2025年新增单位.xlsx（共 5 行，尚未导入）" in page
    assert "新开通·主管预算单位 1" in page and "新开通·隶属本文件中的单位 2" in page
    row = re.search(r'<tr id="preview-row-5" data-kind="under_existing">(.*?)</tr>', page, re.S).group(1)
    assert "省实验中学附属小学" in row and "省教育厅" in row and "（已开通）" in row and "139****0004" in row
    assert "13912340004" not in page  # numbers masked, as in every list
    assert "确认导入（5 个单位）" in page and "取消" in page
    with app.app_context():
        assert unit_count() == before and staged_count() == 1
        assert account_of("13912340001") is None

    done = confirm(client, page)
    assert done.status_code == 200
    assert "已导入 5 个预算单位（2025年新增单位.xlsx）" in done.get_data(as_text=True)
    with app.app_context():
        assert unit_count() == before + 5 and staged_count() == 0
        assert account_of("13912340004").unit.parent.name == "省教育厅"

    again = confirm(client, page)  # the same form sent twice: the file was consumed
    assert again.status_code == 404 and "上传的文件已过期或已处理，请重新上传" in again.get_data(as_text=True)
    with app.app_context():
        assert unit_count() == before + 5


def test_the_preview_is_a_fragment_for_htmx(app, tree, login):
    client = logged_in_client(app, login, PROVINCE_FINANCE)
    response = upload_file(client, xlsx(good_rows()), headers={"HX-Request": "true"})
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert page.lstrip().startswith('<div id="import-panel">') and "<html" not in page
    assert 'id="import-preview"' in page and "本级预算单位" not in page
    bad = upload_file(client, xlsx([[1, "省某单位", "x", "", "甲", "13912340001"]]), headers={"HX-Request": "true"})
    assert bad.status_code == 422 and "下载标注错误的文件" in bad.get_data(as_text=True)
    assert "<html" not in bad.get_data(as_text=True)


def test_cancel_drops_the_staged_file_and_opens_nothing(app, tree, login):
    client = logged_in_client(app, login, PROVINCE_FINANCE)
    page = upload_file(client, xlsx(good_rows()), filename="单位.xlsx").get_data(as_text=True)
    _, cancel, _ = preview_form(page)
    response = client.post(cancel, data={"csrf_token": csrf_token(client, "/budget-units/")})
    assert response.status_code == 302 and response.headers["Location"].endswith("/budget-units/")
    assert "已取消导入“单位.xlsx”，没有开通任何单位" in client.get("/budget-units/").get_data(as_text=True)
    with app.app_context():
        assert staged_count() == 0 and account_of("13912340001") is None
    assert confirm(client, page).status_code == 404


def test_a_file_with_wrong_rows_stages_nothing(app, tree, login):
    client = logged_in_client(app, login, PROVINCE_FINANCE)
    rows = good_rows()
    rows[4][5] = "12345"
    response = upload_file(client, xlsx(rows))
    assert response.status_code == 422 and "下载标注错误的文件" in response.get_data(as_text=True)
    assert "确认导入" not in response.get_data(as_text=True)
    with app.app_context():
        assert staged_count() == 0


def test_a_credit_code_registered_after_the_preview_is_refused_at_commit(app, tree, login):
    """Between the preview and 确认导入 another unit is opened with row 3's credit code: the commit
    checks again, opens nothing, and gives the person the file annotated as an upload would."""
    client = logged_in_client(app, login, PROVINCE_FINANCE)
    page = upload_file(client, xlsx(good_rows()), filename="新增.xlsx").get_data(as_text=True)
    with app.app_context():
        gz_finance = db.session.get(Account, tree.gz_finance.id)
        service.open_unit(gz_finance, kind=UnitKind.BUDGET_UNIT, name="广州市某局", contact_name="甲",
                          phone="13912349999", credit_code=code(2))
        db.session.commit()
        before = unit_count()

    response = confirm(client, page)
    text = response.get_data(as_text=True)
    assert response.status_code == 422, text
    assert "新增.xlsx：1 行有误，所有单位均未导入" in text and 'id="changed-since-preview"' in text
    assert re.search(r'id="error-row-3">.*?该统一社会信用代码已登记', text, re.S)
    with app.app_context():
        assert unit_count() == before and staged_count() == 0
        assert account_of("13912340001") is None
    sheet = load_workbook(io.BytesIO(client.get("/budget-units/import/errors").data)).worksheets[0]
    assert [c.value for c in sheet[1]] == HEADER + ["错误原因"]
    assert sheet["G3"].value == "该统一社会信用代码已登记" and sheet["G2"].value is None
    assert confirm(client, page).status_code == 404  # nothing waits any more


def test_a_superior_that_changed_after_the_preview_shows_the_new_plan(app, tree, login):
    """省教育厅 is renamed and a new unit takes its name: row 5 would now go under another unit,
    without any error. The commit shows the new preview (409) instead of opening anything."""
    client = logged_in_client(app, login, PROVINCE_FINANCE)
    page = upload_file(client, xlsx(good_rows())).get_data(as_text=True)
    with app.app_context():
        finance = db.session.get(Account, tree.province_finance.id)
        unit_changes.rename_unit(finance, db.session.get(Unit, tree.superior_budget.unit_id), "省教育厅（原）",
                                 "粤机编〔2025〕1号")
        new_head = service.open_unit(finance, kind=UnitKind.BUDGET_UNIT, name="省教育厅", contact_name="乙",
                                     phone="13912349998", credit_code=code(90))
        db.session.commit()
        new_head_id, before = new_head.id, unit_count()

    response = confirm(client, page)
    again = response.get_data(as_text=True)
    assert response.status_code == 409
    assert 'id="plan-changed"' in again and 'id="import-preview"' in again
    with app.app_context():
        assert unit_count() == before and staged_count() == 1
    assert preview_form(again)[2] != preview_form(page)[2]
    assert preview_form(again)[0] == preview_form(page)[0]  # the same staged file

    done = confirm(client, again)
    assert done.status_code == 200 and "已导入 5 个预算单位" in done.get_data(as_text=True)
    with app.app_context():
        assert account_of("13912340004").unit.parent_id == new_head_id


def test_another_accounts_token_and_an_expired_one_are_404(app, tree, login):
    owner = logged_in_client(app, login, PROVINCE_FINANCE)
    page = upload_file(owner, xlsx(good_rows())).get_data(as_text=True)
    confirm_url, cancel_url, plan = preview_form(page)
    other = logged_in_client(app, login, tree.gz_finance.phone)
    token = csrf_token(other, "/budget-units/")
    assert other.post(confirm_url, data={"csrf_token": token, "plan": plan}).status_code == 404
    assert other.post(cancel_url, data={"csrf_token": token}).status_code == 404
    with app.app_context():
        assert staged_count() == 1 and account_of("13912340001") is None
        db.session.execute(update(StagedUpload).values(expires_at=StagedUpload.created_at))
        db.session.commit()
    assert confirm(owner, page).status_code == 404
    with app.app_context():
        assert account_of("13912340001") is None


@pytest.mark.parametrize("plan", ["", "x", "0" * 31, "G" * 32, "0" * 33])
def test_a_confirm_without_the_previews_plan_is_a_400(app, tree, login, plan):
    client = logged_in_client(app, login, PROVINCE_FINANCE)
    confirm_url, _, _ = preview_form(upload_file(client, xlsx(good_rows())).get_data(as_text=True))
    response = client.post(confirm_url, data={"csrf_token": csrf_token(client, "/budget-units/"), "plan": plan})
    assert response.status_code == 400
    with app.app_context():
        assert staged_count() == 1 and account_of("13912340001") is None


def test_the_annotated_file_is_the_last_failed_uploads_and_goes_after_an_import(app, tree, login):
    client = logged_in_client(app, login, PROVINCE_FINANCE)
    first, second = good_rows(), good_rows()
    first[0][5], second[1][5] = "1", "2"
    upload_file(client, xlsx(first), filename="一.xlsx")
    upload_file(client, xlsx(second), filename="二.xlsx")
    download = client.get("/budget-units/import/errors")
    assert "%E4%BA%8C-%E9%94%99%E8%AF%AF%E5%8E%9F%E5%9B%A0.xlsx" in download.headers["Content-Disposition"]  # 二-错误原因
    with app.app_context():
        assert staged_count("budget_units_errors") == 1  # the first file's went when the second came

    confirm(client, upload_file(client, xlsx(good_rows())).get_data(as_text=True))
    assert client.get("/budget-units/import/errors").status_code == 404
    with app.app_context():
        assert staged_count("budget_units_errors") == 0 and staged_count() == 0
