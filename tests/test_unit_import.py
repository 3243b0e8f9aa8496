"""Budget units imported from Excel by a finance department: every row checked first, all or
nothing, the person's own file back with an 错误原因 column, numbers-as-cells, who may import.
Over HTTP an upload is previewed first and imported on 确认导入 (tests/test_budget_unit_import_preview.py
tries the preview and the commit themselves)."""
import io
import re

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from portal.accounts.models import Account, Unit
from portal.audit import AuditEvent
from portal.errors import PermissionDenied, ValidationFailed
from portal.extensions import db
from portal.reservations import unit_import, unit_import_files
from tests.conftest import csrf_token
from tests.factories import credit_code

HEADER = ["序号", "单位名称", "统一社会信用代码", "上级预算单位", "联系人", "手机号码"]
PROVINCE_FINANCE = "13700000101"


def code(n):
    """A valid 统一社会信用代码, one per n."""
    return credit_code(f"11440000MB2C{n:05d}")


def xlsx(rows, header=HEADER):
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "单位"
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def good_rows():
    """A department head, its subordinate, the subordinate's own subordinate, and a unit under
    an existing budget unit of the tree (省教育厅)."""
    return [
        [1, "省卫生健康委员会", code(1), "", "陈主任", "13912340001"],
        [2, "省人民医院", code(2), "省卫生健康委员会", "林科长", "13912340002"],
        [3, "省人民医院惠福分院", code(3), "省人民医院", "黄干事", "13912340003"],
        [4, "省实验中学附属小学", code(4), "省教育厅", "周老师", "13912340004"],
        [5, "省档案馆", code(5), "", "吴馆员", "13912340005"],
    ]


def unit_count():
    return db.session.scalar(select(func.count(Unit.id)))


def account_of(phone):
    return db.session.scalar(select(Account).where(Account.with_phone(phone)))


def upload_file(client, content, filename="预算单位.xlsx", headers=None):
    """The upload: its preview, or the file's errors."""
    token = csrf_token(client, "/budget-units/")
    return client.post("/budget-units/import", data={"csrf_token": token, "file": (io.BytesIO(content), filename)},
                       content_type="multipart/form-data", headers=headers or {})


def preview_form(page):
    """(confirm URL, cancel URL, plan) of a preview page."""
    confirm = re.search(r'action="(/budget-units/import/[A-Za-z0-9_-]{43}/confirm)"', page).group(1)
    cancel = re.search(r'action="(/budget-units/import/[A-Za-z0-9_-]{43}/cancel)"', page).group(1)
    plan = re.search(r'name="plan" value="([0-9a-f]{32})"', page).group(1)
    return confirm, cancel, plan


def confirm(client, page):
    url, _, plan = preview_form(page)
    return client.post(url, data={"csrf_token": csrf_token(client, "/budget-units/"), "plan": plan})


def post_file(client, content, filename="预算单位.xlsx"):
    """Upload, and 确认导入 when the preview offers it: the import as a person does it."""
    response = upload_file(client, content, filename)
    if response.status_code != 200:
        return response
    return confirm(client, response.get_data(as_text=True))


def logged_in_client(app, login, phone):
    client = app.test_client()
    login(client, phone)
    return client


# --- the domain ---------------------------------------------------------------------------------

def test_a_good_file_opens_every_unit_with_its_superior_chain(ctx, tree):
    finance = db.session.get(Account, tree.province_finance.id)
    before = unit_count()
    result = unit_import.import_budget_units(finance, xlsx(good_rows()))
    db.session.commit()

    assert result.ok and result.errors == {}
    assert [u.name for u in result.opened] == [r[1] for r in good_rows()]
    assert unit_count() == before + 5
    by_name = {u.name: u for u in result.opened}
    assert by_name["省卫生健康委员会"].parent_id == finance.unit_id
    assert by_name["省人民医院"].parent is by_name["省卫生健康委员会"]
    assert by_name["省人民医院惠福分院"].parent is by_name["省人民医院"]
    assert by_name["省实验中学附属小学"].parent_id == tree.superior_budget.unit_id
    assert by_name["省档案馆"].parent_id == finance.unit_id
    for row in good_rows():
        unit = by_name[row[1]]
        assert unit.kind == "budget_unit" and unit.active
        assert unit.credit_code == row[2]
        assert unit.created_by_id == finance.id
        (admin,) = unit.accounts
        assert (admin.name, admin.phone, admin.role, admin.created_by_id) == (row[4], row[5], "admin", finance.id)
    # one unit_opened row per unit (written by open_unit) and one row for the import
    opened = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "unit_opened",
                                                         AuditEvent.object_ref.in_(
                                                             [f"unit:{u.id}" for u in result.opened]))).all()
    assert len(opened) == 5
    summary = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "units_imported"))
    assert summary.account_id == finance.id and summary.detail_data["count"] == 5


def test_columns_in_any_order_serial_example_and_blank_rows_ignored(ctx, tree):
    finance = db.session.get(Account, tree.province_finance.id)
    header = ["手机号码", "联系人", "单位名称 *", "上级预算单位", "统一社会信用代码（18位）", "序号", "备注"]
    rows = [
        ["13800138000", "张三", "广东省某某厅（示例行，导入时不读取）", "", code(9), "示例", ""],
        ["13912340011", "甲", "省统计局", "", code(11), 1, "随便写"],
        [None, None, None, None, None, None, None],
        ["13912340012", "乙", "省统计局普查中心", "省统计局", code(12), 2, ""],
    ]
    result = unit_import.import_budget_units(finance, xlsx(rows, header))
    assert result.ok, result.errors
    assert [u.name for u in result.opened] == ["省统计局", "省统计局普查中心"]
    assert [r.number for r in result.rows] == [3, 5]


def test_numbers_as_cells_are_read_as_the_digits_typed(ctx, tree):
    """Phones typed into a General column come back as int, or float from some tools."""
    finance = db.session.get(Account, tree.province_finance.id)
    rows = [
        [1, "省气象局", code(21), "", "甲", 13912340021],
        [2, "省地震局", code(22), "", "乙", 13912340022.0],
    ]
    result = unit_import.import_budget_units(finance, xlsx(rows))
    assert result.ok, result.errors
    assert [(u.credit_code, u.accounts[0].phone) for u in result.opened] == [
        (code(21), "13912340021"), (code(22), "13912340022")]


def test_a_credit_code_excel_rounded_into_a_number_is_explained(ctx, tree):
    """An all-digit code typed into a General column keeps 15 significant digits: the cell is lost."""
    finance = db.session.get(Account, tree.province_finance.id)
    for cell in (114400000000000007, 1.14400000000000007e17):
        result = unit_import.import_budget_units(finance, xlsx([[1, "省气象局", cell, "", "甲", "13912340021"]]))
        assert result.errors == {2: ["统一社会信用代码被Excel改成了数字，请把该列设为文本格式后重新填写"]}


def test_every_row_is_checked_and_nothing_is_written(ctx, tree):
    finance = db.session.get(Account, tree.province_finance.id)
    before = unit_count()
    rows = [
        [1, "省卫生健康委员会", code(1), "", "陈主任", "13912340001"],
        [2, "省人民医院", code(1), "省卫生健康委员会", "林科长", "13912340001"],  # code and phone of row 2
        [3, "", "91440000X", "省不存在厅", "", "12345678901"],
        [4, "省卫生健康委员会", code(4), "省后面的单位", "黄干事", "13700000001"],  # phone of the province office
        [5, "省实验中学", code(5), "广州市农业农村局", "周老师", "13912340005"],  # another finance's unit
        [6, "省后面的单位", code(6), "省后面的单位", "吴", "13912340006"],
    ]
    result = unit_import.import_budget_units(finance, xlsx(rows))
    assert not result.ok and result.opened == []
    assert unit_count() == before
    assert not db.session.new
    assert result.errors == {
        3: ["统一社会信用代码与第2行重复", "手机号码与第2行重复（一个手机号只能对应一个单位账号）"],
        4: ["请填写单位名称", "统一社会信用代码不正确（应为18位，且校验位正确）",
            "上级预算单位“省不存在厅”不存在（须为本财政部门下已开通的预算单位或本文件中靠前的单位）",
            "请填写联系人姓名", "手机号码格式不正确，请输入11位大陆手机号"],
        5: ["单位名称与第2行重复", "上级预算单位“省后面的单位”排在本行之后，请把上级单位放在前面",
            "该手机号已开通账号（一个手机号只能对应一个单位账号）"],
        6: ["本财政部门下已有同名的预算单位",
            "上级预算单位“广州市农业农村局”不存在（须为本财政部门下已开通的预算单位或本文件中靠前的单位）"],
        7: ["上级预算单位不能是本单位"],
    }


def test_a_credit_code_already_registered_is_refused(ctx, tree):
    finance = db.session.get(Account, tree.province_finance.id)
    enterprise = db.session.get(Account, tree.gz_enterprise.id).unit
    result = unit_import.import_budget_units(finance, xlsx([[1, "省某单位", enterprise.credit_code, "", "甲",
                                                             "13912340031"]]))
    assert result.errors == {2: ["该统一社会信用代码已登记"]}


@pytest.mark.parametrize("content, message", [
    (b"", "请选择要导入的Excel文件"),
    (b"name,code\n", "该文件不是Excel文件（.xlsx），请使用导入模板，保存为 .xlsx 格式后上传"),
    (xlsx([], header=["名称", "代码"]), "第一个工作表中找不到表头“单位名称”，请使用导入模板"),
    (xlsx([], header=["序号", "单位名称", "联系人"]), "表头缺少以下列：统一社会信用代码、上级预算单位、手机号码（请使用导入模板）"),
    (xlsx([]), "文件中没有要导入的单位（表头下面是空的）"),
])
def test_a_file_that_cannot_be_read_is_refused_as_a_whole(ctx, tree, content, message):
    finance = db.session.get(Account, tree.province_finance.id)
    with pytest.raises(ValidationFailed) as failed:
        unit_import.import_budget_units(finance, content)
    assert failed.value.errors == {"file": message}


@pytest.mark.parametrize("role", ["superior_budget", "gz_office", "province"])
def test_only_finance_admins_import(ctx, tree, role):
    actor = db.session.get(Account, getattr(tree, role).id)
    with pytest.raises(PermissionDenied):
        unit_import.import_budget_units(actor, xlsx(good_rows()))


def test_the_error_workbook_is_the_own_file_with_an_error_column(ctx):
    original = xlsx([[1, "甲单位", "x", "", '="张"&"三"', "13912340001"], [2, "乙单位", code(2), "", "李四", "13912340002"],
                     [3, "丙单位", code(3), "", "", "1"]])
    annotated = load_workbook(io.BytesIO(unit_import_files.error_workbook(
        original, {2: ["统一社会信用代码不正确"], 4: ["请填写联系人姓名", "手机号码格式不正确"]})))
    sheet = annotated.worksheets[0]
    assert sheet.title == "单位"
    assert [c.value for c in sheet[1]] == HEADER + ["错误原因"]
    assert sheet["G1"].font.bold
    assert [c.value for c in sheet[2]] == [1, "甲单位", "x", None, '="张"&"三"', "13912340001", "统一社会信用代码不正确"]
    assert sheet["G3"].value is None and sheet["B3"].fill.fill_type is None
    assert sheet["G4"].value == "请填写联系人姓名；手机号码格式不正确"
    assert sheet["B4"].fill.fill_type == "solid" and sheet["B4"].fill.start_color.rgb == "FFFFC7CE"

    # Sent back corrected, the file's own 错误原因 column is reused and cleared, never doubled.
    buffer = io.BytesIO()
    annotated.save(buffer)
    again = load_workbook(io.BytesIO(unit_import_files.error_workbook(buffer.getvalue(), {3: ["单位名称与第2行重复"]})))
    sheet = again.worksheets[0]
    assert [c.value for c in sheet[1]] == HEADER + ["错误原因"]
    assert [sheet.cell(row=r, column=7).value for r in (2, 3, 4)] == [None, "单位名称与第2行重复", None]
    assert sheet["B2"].fill.fill_type is None and sheet["B3"].fill.fill_type == "solid"


def test_the_annotated_file_keeps_the_template_sheets_widths_and_text_columns(ctx):
    """The file given back is a copy of the cells (see portal/spreadsheet): it still looks like
    the template, with its second sheet, frozen header, widths and text-formatted columns."""
    template = load_workbook(io.BytesIO(unit_import_files.template_workbook()))
    for column, value in enumerate([1, "省测试单位", "x", None, "张三", "13912340001"], start=1):
        template.active.cell(row=3, column=column, value=value)  # below the example row
    buffer = io.BytesIO()
    template.save(buffer)
    annotated = load_workbook(io.BytesIO(unit_import_files.error_workbook(buffer.getvalue(), {3: ["统一社会信用代码不正确"]})))
    assert annotated.sheetnames == ["预算单位导入", "填写说明"]
    sheet = annotated["预算单位导入"]
    assert sheet.freeze_panes == "A2"
    assert sheet.column_dimensions["B"].width == 36 and sheet.column_dimensions["G"].width == 60
    assert sheet["C3"].number_format == "@" and sheet["F40"].number_format == "@"
    assert sheet["G1"].value == "错误原因" and sheet["G3"].value == "统一社会信用代码不正确"
    assert sheet["A2"].value == "示例" and sheet["G2"].value is None
    assert sheet["B3"].fill.start_color.rgb == "FFFFC7CE" and sheet["B2"].fill.fill_type is None
    assert annotated["填写说明"]["A1"].value == "填写说明"


def test_the_template_is_ready_to_fill(ctx, tree):
    content = unit_import_files.template_workbook()
    workbook = load_workbook(io.BytesIO(content))
    sheet = workbook.worksheets[0]
    assert [c.value for c in sheet[1]] == HEADER
    assert all(c.font.bold for c in sheet[1])
    assert sheet.freeze_panes == "A2"
    assert sheet["C2"].number_format == "@" and sheet["F2"].number_format == "@"
    assert sheet["C50"].number_format == "@" and sheet["F50"].number_format == "@"
    assert sheet["A2"].value == "示例" and unit_import.normalize_credit_code(sheet["C2"].value)
    # The example row is never imported: the template as downloaded holds no unit.
    finance = db.session.get(Account, tree.province_finance.id)
    with pytest.raises(ValidationFailed) as failed:
        unit_import.import_budget_units(finance, content)
    assert failed.value.errors == {"file": "文件中没有要导入的单位（表头下面是空的）"}


# --- over HTTP ----------------------------------------------------------------------------------

def test_import_page_and_template_download(app, tree, login):
    client = logged_in_client(app, login, PROVINCE_FINANCE)
    page = client.get("/budget-units/").get_data(as_text=True)
    assert "从Excel导入预算单位" in page and 'enctype="multipart/form-data"' in page
    assert "省教育厅" in page and "省实验中学" in page  # the units of this finance department
    assert "广州市农业农村局" not in page  # another finance department's
    response = client.get("/budget-units/template")
    assert response.status_code == 200
    assert response.mimetype == unit_import.XLSX_MIMETYPE
    assert "attachment" in response.headers["Content-Disposition"]
    assert load_workbook(io.BytesIO(response.data)).worksheets[0]["B1"].value == "单位名称"


def test_a_good_file_over_http_and_the_new_admins_log_in(app, tree, login):
    client = logged_in_client(app, login, PROVINCE_FINANCE)
    response = post_file(client, xlsx(good_rows()))
    page = response.get_data(as_text=True)
    assert response.status_code == 200, page
    assert "已导入 5 个预算单位" in page
    assert "139****0003" in page and "省人民医院惠福分院" in page
    clients = {row[5]: logged_in_client(app, login, row[5]) for row in good_rows()}  # each login asserted
    with app.app_context():
        school = account_of("13912340004")
        assert school.is_active and school.unit.parent.name == "省教育厅"
    assert "省卫生健康委员会" in clients["13912340001"].get("/").get_data(as_text=True)


@pytest.mark.parametrize("bad_row, message", [
    ([3, "省人民医院", "91440000MA5FTK1D9", "", "林科长", "13912340002"],
     "统一社会信用代码不正确（应为18位，且校验位正确）"),
    ([3, "省人民医院", code(2), "", "林科长", "13912340001"],
     "手机号码与第2行重复（一个手机号只能对应一个单位账号）"),
    ([3, "省人民医院", code(2), "", "林科长", "13700000112"],
     "该手机号已开通账号（一个手机号只能对应一个单位账号）"),
    ([3, "省人民医院", code(2), "省不存在厅", "林科长", "13912340002"],
     "上级预算单位“省不存在厅”不存在（须为本财政部门下已开通的预算单位或本文件中靠前的单位）"),
    ([3, "", code(2), "", "林科长", "13912340002"], "请填写单位名称"),
], ids=["credit-code", "phone-in-file", "phone-taken", "unknown-superior", "missing-name"])
def test_one_bad_row_imports_nothing_and_returns_the_annotated_file(app, tree, login, bad_row, message):
    rows = [
        [1, "省卫生健康委员会", code(1), "", "陈主任", "13912340001"],
        bad_row,
        [3, "省档案馆", code(5), "", "吴馆员", "13912340005"],
    ]
    with app.app_context():
        before = unit_count()
    client = logged_in_client(app, login, PROVINCE_FINANCE)
    response = post_file(client, xlsx(rows), filename="2024年预算单位.xlsx")
    page = response.get_data(as_text=True)
    assert response.status_code == 422, page
    assert "1 行有误，所有单位均未导入" in page
    assert re.search(r'id="error-row-3">\s*<td class="text-nowrap">第3行</td>', page)
    assert message in page
    assert "下载标注错误的文件" in page
    with app.app_context():
        assert unit_count() == before
        assert account_of("13912340005") is None

    download = client.get("/budget-units/import/errors")
    assert download.status_code == 200
    assert "2024%E5%B9%B4%E9%A2%84%E7%AE%97%E5%8D%95%E4%BD%8D-%E9%94%99%E8%AF%AF%E5%8E%9F%E5%9B%A0.xlsx" in \
        download.headers["Content-Disposition"]  # 2024年预算单位-错误原因.xlsx
    sheet = load_workbook(io.BytesIO(download.data)).worksheets[0]
    assert [c.value for c in sheet[1]] == HEADER + ["错误原因"]
    assert sheet["G3"].value == message
    assert sheet["G2"].value is None and sheet["G4"].value is None
    assert sheet["B3"].fill.fill_type == "solid" and sheet["B2"].fill.fill_type is None
    assert sheet["B2"].value == "省卫生健康委员会" and sheet["F4"].value == "13912340005"

    # The file is this person's: another finance admin's session has none to give.
    other = logged_in_client(app, login, "13700001101")
    assert other.get("/budget-units/import/errors").status_code == 404


def test_an_unreadable_upload_is_a_422_with_the_message_beside_the_field(app, tree, login):
    client = logged_in_client(app, login, PROVINCE_FINANCE)
    response = post_file(client, b"not a workbook", filename="单位.xls")
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert re.search(r'name="file"[^>]*>\s*<div class="invalid-feedback d-block" id="file-error">'
                     r"该文件不是Excel文件（.xlsx）", page)
    token = csrf_token(client, "/budget-units/")
    empty = client.post("/budget-units/import", data={"csrf_token": token}, content_type="multipart/form-data")
    assert empty.status_code == 422 and "请选择要导入的Excel文件" in empty.get_data(as_text=True)


@pytest.mark.parametrize("role", ["superior_budget", "gz_office", "province_reviewer", "gz_merchant"])
def test_only_finance_admins_may_import_over_http(app, tree, login, role):
    client = logged_in_client(app, login, getattr(tree, role).phone)
    assert client.get("/budget-units/").status_code == 403
    assert client.get("/budget-units/template").status_code == 403
    token = csrf_token(client, "/")
    response = client.post("/budget-units/import", data={"csrf_token": token, "file": (io.BytesIO(xlsx(good_rows())),
                                                                                        "u.xlsx")},
                           content_type="multipart/form-data")
    assert response.status_code == 403
    with app.app_context():
        assert account_of("13912340001") is None


def test_anonymous_is_sent_to_login(client, tree):
    response = client.get("/budget-units/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
