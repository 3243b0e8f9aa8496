"""Renaming, closing and merging budget units (更名、撤销、合并): each recorded as a UnitChange
with its audit row, past filings kept, sessions of a closed unit ended, other finance
departments kept out."""
import re

import pytest
from sqlalchemy import select

from portal.accounts import service
from portal.accounts.models import Account, LoginSession, Unit
from portal.audit import AuditEvent
from portal.errors import PermissionDenied, ValidationFailed
from portal.extensions import db
from portal.reservations import unit_changes
from portal.reservations.models import Reservation, UnitChange
from tests.conftest import csrf_token
from tests.factories import make_reservation, open_unit

PROVINCE_FINANCE = "13700000101"


def account(tree, role):
    return db.session.get(Account, getattr(tree, role).id)


def unit_of(tree, role):
    return account(tree, role).unit


def audit_actions(unit):
    return db.session.scalars(select(AuditEvent.action).where(AuditEvent.object_ref == f"unit:{unit.id}")
                              .order_by(AuditEvent.id)).all()


# --- the domain ---------------------------------------------------------------------------------

def test_finance_renames_a_unit_two_levels_down_and_its_filings_stay(ctx, tree):
    reservation = make_reservation(tree)
    school = unit_of(tree, "budget_unit")
    finance = account(tree, "province_finance")
    change = unit_changes.rename_unit(finance, school, " 广东实验中学 ", "粤机编〔2024〕12号")
    db.session.commit()

    assert school.name == "广东实验中学" and school.active
    assert (change.kind, change.old_name, change.new_name, change.reason, change.by_id) == (
        "rename", "省实验中学", "广东实验中学", "粤机编〔2024〕12号", finance.id)
    assert db.session.get(Reservation, reservation.id).unit_id == school.id
    assert audit_actions(school)[-1] == "unit_renamed"
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "unit_renamed"))
    assert event.detail_data["name"] == ["省实验中学", "广东实验中学"]
    assert all(a.active for a in school.accounts)


def test_the_direct_parent_may_rename_its_subordinate(ctx, tree):
    school = unit_of(tree, "budget_unit")
    unit_changes.rename_unit(account(tree, "superior_budget"), school, "省实验中学（新校区）", "搬迁")
    assert school.name == "省实验中学（新校区）"


@pytest.mark.parametrize("new_name, reason, errors", [
    ("", "依据", {"new_name": "请填写新的单位名称"}),
    ("省实验中学", "依据", {"new_name": "新名称与原名称相同"}),
    ("省教育厅", "依据", {"new_name": "本财政部门下已有同名的预算单位"}),
    ("省实验学校", " ", {"reason": "请填写原因或依据（如机构改革文件文号）"}),
    ("省" * 101, "依据", {"new_name": "单位名称不能超过100个字"}),
])
def test_rename_checks(ctx, tree, new_name, reason, errors):
    with pytest.raises(ValidationFailed) as failed:
        unit_changes.rename_unit(account(tree, "province_finance"), unit_of(tree, "budget_unit"), new_name, reason)
    assert failed.value.errors == errors


def test_closing_disables_the_accounts_ends_their_sessions_and_keeps_the_filings(app, tree, login):
    with app.app_context():
        reservation_id = make_reservation(tree).id
        db.session.commit()
    school_client = app.test_client()
    login(school_client, tree.budget_unit.phone)
    assert school_client.get("/").status_code == 200

    with app.app_context():
        school = unit_of(tree, "budget_unit")
        second = service.add_account(account(tree, "superior_budget"), school, contact_name="经办人",
                                     phone="13912340101")
        change = unit_changes.close_unit(account(tree, "province_finance"), school, "机构改革撤销")
        db.session.commit()
        assert not school.active
        assert [a.active for a in school.accounts] == [False, False]
        assert second.active is False
        assert (change.kind, change.old_name, change.merged_into_id) == ("close", "省实验中学", None)
        sessions = db.session.scalars(select(LoginSession).where(LoginSession.account_id == tree.budget_unit.id)).all()
        assert sessions and all(s.ended_at is not None and s.end_reason == "disabled" for s in sessions)
        assert db.session.get(Reservation, reservation_id).unit_id == school.id
        assert db.session.get(Unit, school.id) is not None
        disabled = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "account_disabled")).all()
        assert {e.object_ref for e in disabled} == {f"account:{tree.budget_unit.id}", f"account:{second.id}"}
        assert all(e.account_id == tree.province_finance.id for e in disabled)
        assert audit_actions(school)[-1] == "unit_closed"

    response = school_client.get("/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_the_parent_closes_through_set_account_active(ctx, tree):
    school = unit_of(tree, "budget_unit")
    parent = account(tree, "superior_budget")
    unit_changes.close_unit(parent, school, "撤销")
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "account_disabled"))
    assert (event.account_id, event.object_ref) == (parent.id, f"account:{tree.budget_unit.id}")


def test_a_unit_with_active_subordinates_cannot_be_closed_or_merged(ctx, tree):
    finance = account(tree, "province_finance")
    head = unit_of(tree, "superior_budget")
    with pytest.raises(ValidationFailed) as failed:
        unit_changes.close_unit(finance, head, "撤销")
    assert failed.value.errors == {"unit": "该单位还有未撤销的下级预算单位，请先撤销或合并其下级单位"}
    other = open_unit(finance, "budget_unit", "省科学技术厅", "13912340201").unit
    with pytest.raises(ValidationFailed) as failed:
        unit_changes.merge_unit(finance, head, other, "合并")
    assert "unit" in failed.value.errors
    # Once the subordinate is closed, the head may go too.
    unit_changes.close_unit(finance, unit_of(tree, "budget_unit"), "撤销")
    unit_changes.close_unit(finance, head, "撤销")
    assert not head.active
    with pytest.raises(ValidationFailed) as failed:
        unit_changes.rename_unit(finance, head, "新名称", "依据")
    assert failed.value.errors == {"unit": "该单位已撤销，不能再变更"}


def test_merging_records_the_unit_that_continues(ctx, tree):
    reservation = make_reservation(tree)
    finance = account(tree, "province_finance")
    school = unit_of(tree, "budget_unit")
    other = open_unit(finance, "budget_unit", "省实验学校", "13912340202").unit
    change = unit_changes.merge_unit(finance, school, other, "两校合并")
    db.session.commit()
    assert (change.kind, change.old_name, change.merged_into_id, change.reason) == (
        "merge", "省实验中学", other.id, "两校合并")
    assert not school.active and other.active
    assert not any(a.active for a in school.accounts)
    assert db.session.get(Reservation, reservation.id).unit_id == school.id
    assert audit_actions(school)[-1] == "unit_merged"


@pytest.mark.parametrize("target, message", [
    (None, "请选择并入的单位"),
    ("self", "不能并入本单位"),
    ("gz_budget", "只能并入同一财政部门下的预算单位"),
    ("gz_office", "只能并入未撤销的预算单位"),
])
def test_merge_checks_the_continuing_unit(ctx, tree, target, message):
    school = unit_of(tree, "budget_unit")
    into = school if target == "self" else (unit_of(tree, target) if target else None)
    with pytest.raises(ValidationFailed) as failed:
        unit_changes.merge_unit(account(tree, "province_finance"), school, into, "合并")
    assert failed.value.errors == {"into": message}


@pytest.mark.parametrize("role", ["gz_finance", "county_finance", "budget_unit", "gz_budget", "province",
                                  "system"])
def test_others_may_not_change_the_unit(ctx, tree, role):
    school = unit_of(tree, "budget_unit")
    actor = account(tree, role)
    for operation in (lambda: unit_changes.rename_unit(actor, school, "新名称", "依据"),
                      lambda: unit_changes.close_unit(actor, school, "依据"),
                      lambda: unit_changes.merge_unit(actor, school, unit_of(tree, "superior_budget"), "依据")):
        with pytest.raises(PermissionDenied):
            operation()
    assert school.active and school.name == "省实验中学"
    assert db.session.scalars(select(UnitChange)).all() == []
    assert {e.result for e in db.session.scalars(select(AuditEvent).where(
        AuditEvent.action.in_(["unit_renamed", "unit_closed", "unit_merged"])))} == {"denied"}


# --- over HTTP ----------------------------------------------------------------------------------

def logged_in(app, login, phone):
    client = app.test_client()
    login(client, phone)
    return client


def test_the_unit_page_and_a_rename_over_http(app, tree, login):
    with app.app_context():
        make_reservation(tree)
        db.session.commit()
    client = logged_in(app, login, PROVINCE_FINANCE)
    url = f"/budget-units/{tree.budget_unit.unit_id}"
    page = client.get(url).get_data(as_text=True)
    assert "省实验中学" in page and "更名" in page and "撤销" in page and "合并" in page
    assert re.search(r"<td>2024</td><td>[^<]+</td><td class=\"text-end\">300,000.00</td>", page)  # the filing
    token = csrf_token(client, url)

    refused = client.post(f"{url}/rename", data={"csrf_token": token, "rename-new_name": "", "rename-reason": "x"})
    text = refused.get_data(as_text=True)
    assert refused.status_code == 422
    assert re.search(r'name="rename-new_name"[^>]*>\s*<div class="invalid-feedback d-block"[^>]*>请填写新的单位名称', text)

    done = client.post(f"{url}/rename", data={"csrf_token": token, "rename-new_name": "广东实验中学",
                                              "rename-reason": "粤机编〔2024〕12号"})
    assert done.status_code == 302
    page = client.get(url).get_data(as_text=True)
    assert "已将“省实验中学”更名为“广东实验中学”" in page
    assert "“省实验中学”更名为“广东实验中学”" in page
    index = client.get("/budget-units/").get_data(as_text=True)
    assert "粤机编〔2024〕12号" in index  # the history under the finance department
    with app.app_context():
        assert db.session.scalar(select(UnitChange.new_name)) == "广东实验中学"


def test_close_and_merge_over_http(app, tree, login):
    client = logged_in(app, login, PROVINCE_FINANCE)
    with app.app_context():
        other_id = open_unit(account(tree, "province_finance"), "budget_unit", "省实验学校", "13912340202").unit_id
        db.session.commit()
    school = f"/budget-units/{tree.budget_unit.unit_id}"
    token = csrf_token(client, school)

    head = f"/budget-units/{tree.superior_budget.unit_id}"
    refused = client.post(f"{head}/close", data={"csrf_token": token, "close-reason": "撤销"})
    assert refused.status_code == 422
    assert "该单位还有未撤销的下级预算单位" in refused.get_data(as_text=True)

    merged = client.post(f"{school}/merge", data={"csrf_token": token, "merge-into": str(other_id),
                                                  "merge-reason": "两校合并"})
    assert merged.status_code == 302
    page = client.get(school).get_data(as_text=True)
    assert "并入“省实验学校”" in page and "确认合并" not in page
    assert client.post(f"{head}/close", data={"csrf_token": token, "close-reason": "撤销"}).status_code == 302
    with app.app_context():
        kinds = db.session.scalars(select(UnitChange.kind).order_by(UnitChange.id)).all()
        assert kinds == ["merge", "close"]


@pytest.mark.parametrize("role", ["gz_finance", "county_finance", "gz_office", "gz_budget"])
def test_other_finance_departments_get_a_404(app, tree, login, role):
    client = logged_in(app, login, getattr(tree, role).phone)
    url = f"/budget-units/{tree.budget_unit.unit_id}"
    token = csrf_token(client, "/")
    assert client.get(url).status_code == 404
    for action, data in (("rename", {"rename-new_name": "x", "rename-reason": "x"}),
                         ("close", {"close-reason": "x"}),
                         ("merge", {"merge-into": str(tree.superior_budget.unit_id), "merge-reason": "x"})):
        assert client.post(f"{url}/{action}", data={"csrf_token": token, **data}).status_code == 404
    with app.app_context():
        assert db.session.scalars(select(UnitChange)).all() == []
        assert db.session.get(Unit, tree.budget_unit.unit_id).active


def test_staff_are_refused_and_the_unit_itself_cannot_change_itself(app, tree, login):
    reviewer = logged_in(app, login, tree.province_reviewer.phone)
    assert reviewer.get(f"/budget-units/{tree.budget_unit.unit_id}").status_code == 403
    itself = logged_in(app, login, tree.budget_unit.phone)
    assert itself.get(f"/budget-units/{tree.budget_unit.unit_id}").status_code == 404
    parent = logged_in(app, login, tree.superior_budget.phone)
    assert parent.get(f"/budget-units/{tree.budget_unit.unit_id}").status_code == 200
