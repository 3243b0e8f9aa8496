"""What an attacker and a careless user sent, each answered as a person would want: the page
with a Chinese message, a 400 or a 404 — never a 500, never a row written by a GET."""
import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.reservations.models import Reservation
from tests.conftest import csrf_token
from tests.test_authz_matrix import MATRIX, matrix_tree  # noqa: F401  (fixture)

HUGE = "99999999999999999999"


def _post(client, url, data):
    token = csrf_token(client, "/")
    return client.post(url, data={**data, "csrf_token": token}, headers={"X-CSRFToken": token})


@pytest.mark.parametrize("role, url, status, message", [
    ("gz_reviewer", f"/reviews/?category_id={HUGE}", 422, "品类只能是1到"),
    ("gz_reviewer", f"/reviews/?before={HUGE}", 400, "请求无效"),
    ("gz_reviewer", "/reviews/?before=²", 400, "请求无效"),
    ("gz_reviewer", "/reviews/?min_amount=NaN", 422, "最低金额只能输入数字和小数点，已忽略该条件"),
    ("gz_reviewer", "/reviews/?max_amount=1e309", 422, "最高金额只能输入数字和小数点"),
    ("gz_reviewer", "/reviews/?max_amount=Infinity&min_amount=sNaN", 422, "最低金额只能输入数字和小数点"),
    ("gz_reviewer", "/reviews/?start=2024-02-30", 422, "开始日期不是有效的日期"),
    ("gz_reviewer", "/reviews/export?min_amount=NaN", 400, "请求无效"),
    ("province", f"/reports/?period_id={HUGE}", 422, "填报类型只能是1到"),
    ("province", f"/reports/export?category_id={HUGE}", 400, "请求无效"),
    ("gz_office", f"/accounts/?after={HUGE}", 400, "请求无效"),
    ("province", f"/audit/?before={HUGE}", 400, "请求无效"),
    ("province", "/audit/?start=0001-01-01", 422, "开始日期应在2000年至2099年之间"),
    ("budget_unit", f"/reservations/{HUGE}/step/1", 404, "页面不存在"),
    ("budget_unit", "/reservations/1999/step/1", 404, "页面不存在"),
    ("gz_merchant", f"/records/{HUGE}", 404, "页面不存在"),
    ("gz_merchant", "/records/１２", 404, "页面不存在"),
    # beyond INTEGER: PostgreSQL refused the bound parameter (500) where SQLite took 64 bits
    ("gz_merchant", "/records/2147483648", 404, "页面不存在"),
    ("gz_merchant", "/records/?before=１３８００００１０１２", 400, "请求无效"),
    ("gz_office", "/accounts/?after=2147483648", 400, "请求无效"),
    ("province_finance", "/reservations/finance?year=²⁰²⁴", 400, "请求无效"),
    ("province", f"/records/periods?year={HUGE}", 400, "请求无效"),
])
def test_malformed_query_and_path_values(as_role, role, url, status, message):
    response = as_role(role).get(url)
    assert response.status_code == status
    assert message in response.get_data(as_text=True)


def test_version_that_is_not_a_number_is_refused(app, as_role, matrix_tree):
    market = as_role("gz_market")
    response = _post(market, f"/reviews/{matrix_tree.record_id}/act", {"decision": "approve", "version": "abc"})
    assert response.status_code == 400


def test_batch_selection_with_superscripts_and_huge_ids_is_refused_row_by_row(app, as_role, matrix_tree):
    market = as_role("gz_market")
    response = _post(market, "/reviews/batch-approve", {"selected": [f"{matrix_tree.record_id}:²", f"{HUGE}:1",
                                                                     "²:1"]})
    assert response.status_code == 302
    page = market.get(response.headers["Location"]).get_data(as_text=True)
    assert "已审核通过 0 条，3 条未处理" in page


def test_a_superscript_period_is_a_message_beside_the_field(app, as_role):
    from tests.records_helpers import record_form

    with app.app_context():
        form = record_form(period_id="²")
    response = _post(as_role("gz_merchant"), "/records/new", form)
    assert response.status_code == 422
    assert "所选填报类型不存在或已关闭" in response.get_data(as_text=True)


def test_a_policy_year_with_a_superscript_is_a_message(as_role):
    response = _post(as_role("province_finance"), "/reservations/policy", {"year": "202²", "min_ratio": "30"})
    assert response.status_code == 422
    assert "请填写四位年度，如2025" in response.get_data(as_text=True)


def test_a_merge_target_that_is_not_an_id_is_a_message(as_role, tree):
    response = _post(as_role("superior_budget"), f"/budget-units/{tree.budget_unit.unit_id}/merge",
                     {"merge-into": "²", "merge-reason": "机构改革"})
    assert response.status_code == 422


def _forms(app, unit_id):
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Reservation).where(Reservation.unit_id == unit_id))


@pytest.mark.parametrize("amount, message", [
    ("1" + "0" * 17, "年度食堂食材采购总额超出允许范围"),
    ("9" * 27, "年度食堂食材采购总额超出允许范围"),
    ("1e309", "年度食堂食材采购总额仅可输入数字与小数点"),
])
def test_an_amount_beyond_the_column_is_a_message_beside_the_field(app, tree, as_role, open_year, amount, message):
    school = as_role("budget_unit")
    response = _post(school, f"/reservations/{open_year}/step/1", {
        "canteen_type": "own", "remark": "本单位自有食堂", "canteen_total": amount, "ratio": "30", "union_need": "0",
        "union_remark": "无工会采购需求"})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert message in page
    assert f'value="{amount}"' in page  # what was typed is kept


def test_showing_the_empty_form_writes_nothing_and_saving_it_creates_the_draft(app, tree, as_role, open_year):
    school = as_role("budget_unit")
    assert school.get(f"/reservations/{open_year}/step/1").status_code == 200
    assert school.get(f"/reservations/{open_year}/step/2").status_code == 302
    assert school.get(f"/reservations/{open_year}/step/3").status_code == 302
    assert _forms(app, tree.budget_unit.unit_id) == 0
    response = _post(school, f"/reservations/{open_year}/step/1", {
        "canteen_type": "own", "remark": "本单位自有食堂", "canteen_total": "1000000", "ratio": "30", "union_need": "0",
        "union_remark": "无工会采购需求"})
    assert response.status_code == 302
    assert _forms(app, tree.budget_unit.unit_id) == 1


#: tables a GET may write: the login session's last-seen time, the trail of what was read
WRITTEN_BY_READING = {"login_session", "audit_event", "sms_code", "code_failure", "captcha_use"}


def _row_counts(app):
    with app.app_context():
        return {table.name: db.session.scalar(select(func.count()).select_from(table))
                for table in db.metadata.sorted_tables if table.name not in WRITTEN_BY_READING}


@pytest.mark.parametrize("role", ["budget_unit", "superior_budget", "province_finance", "gz_merchant", "gz_market",
                                  "gz_office", "province", "system"])
def test_no_page_adds_or_removes_a_row(app, matrix_tree, login, role, open_year):
    client = login(app.test_client(), getattr(matrix_tree, role).phone)
    before = _row_counts(app)
    urls = [build(matrix_tree) for method, build, _ in MATRIX.values() if method == "GET"]
    urls += [f"/reservations/{open_year}/step/{step}" for step in (1, 2, 3)]
    for url in urls:
        assert client.get(url).status_code < 500, url
    assert _row_counts(app) == before


def test_a_percent_or_underscore_in_a_search_is_a_character_not_a_wildcard(as_role):
    office = as_role("gz_office")
    everything = office.get("/accounts/?q=%25").get_data(as_text=True)
    assert "广州批发市场" not in everything  # no unit's name holds a %
    assert "广州批发市场" in office.get("/accounts/?q=批发").get_data(as_text=True)
    assert "广州批发市场" not in office.get("/accounts/?q=_").get_data(as_text=True)
