"""Reminders at every level: whom each may remind, the preview before sending, the daily cap per
unit, and every reminder kept and shown on the unit's page."""
import re
from datetime import date, datetime

import pytest

from portal.accounts.models import Account
from portal.extensions import db
from portal.oversight import reminding
from portal.reminders import DAILY_CAP, Reminder, plan, send
from portal.reservations.models import Reservation
from tests.conftest import csrf_token
from tests.oversight_helpers import prepare_fulfilment

DAY = date(2024, 10, 1)


@pytest.fixture
def units(app, tree):
    with app.app_context():
        made = prepare_fulfilment(tree)
        # the school has not filed; 省教育厅 waits on nothing; Guangzhou's unit filed, waiting for nobody
        school = db.session.scalar(db.select(Reservation).where(Reservation.unit_id == made["budget_unit"].unit_id))
        school.status = "draft"
        db.session.commit()
    return made


def account(tree, role):
    return db.session.get(Account, getattr(tree, role).id)


def test_finance_reminds_the_unfiled_units_of_its_whole_subtree_only(app, tree, units):
    with app.app_context():
        province = reminding.finance_targets(account(tree, "province_finance"), "unfiled", year=2024, day=DAY)
        assert [t.unit.id for t in province] == [units["budget_unit"].unit_id]
        assert "填报本单位2024年度食堂食材采购预留份额" in province[0].text
        assert reminding.finance_targets(account(tree, "gz_finance"), "unfiled", year=2024, day=DAY) == []
        # in 2025 nobody has filed: the city reminds its own unit and its county's, never the province's
        city = reminding.finance_targets(account(tree, "gz_finance"), "unfiled", year=2025, day=DAY)
        assert {t.unit.id for t in city} == {units["gz_budget"].unit_id, units["county_budget"].unit_id}


def test_finance_reminds_departments_with_forms_waiting_and_units_behind_on_832(app, tree, units):
    from portal.oversight import fulfilment_import
    from tests.oversight_helpers import workbook

    with app.app_context():
        school = db.session.scalar(db.select(Reservation).where(Reservation.unit_id == units["budget_unit"].unit_id))
        school.status = "submitted"
        finance = account(tree, "province_finance")
        waiting = reminding.finance_targets(finance, "unconfirmed", year=2024, day=DAY)
        assert [t.unit.id for t in waiting] == [units["superior_budget"].unit_id]
        assert "1个下级单位的2024年度预留份额待确认" in waiting[0].text

        rows = [[units[r].name, units[r].code, amount, 0, None] for r, amount in (("gz_budget", 190000),
                                                                                   ("county_budget", 20000))]
        planned = fulfilment_import.plan_import(finance, workbook(rows), year=2024, as_of=date(2024, 9, 30),
                                                today=DAY)
        fulfilment_import.commit_import(finance, planned, filename="x.xlsx", data=b"x")
        behind = reminding.finance_targets(finance, "behind", year=2024, day=DAY, threshold=50)
        # 省教育厅 bought nothing (0%), the county unit 20% of 100,000; Guangzhou's 95% is not behind
        assert [t.unit.id for t in behind] == [units["superior_budget"].unit_id, units["county_budget"].unit_id]
        assert "为预留份额的20.00%" in behind[1].text
        db.session.rollback()


def test_a_unit_gets_at_most_the_daily_cap_whoever_sends(app, tree, units):
    with app.app_context():
        school_id = units["budget_unit"].unit_id
        for role in ("province_finance", "province_finance", "province_finance"):
            send(account(tree, role), reminding.finance_targets(account(tree, role), "unfiled", year=2024, day=DAY),
                 now=datetime(2024, 10, 1, 2, 0))
        db.session.commit()
        assert db.session.scalar(db.select(db.func.count(Reminder.id)).where(Reminder.unit_id == school_id)) == DAILY_CAP
        [capped] = plan(reminding.finance_targets(account(tree, "province_finance"), "unfiled", year=2024, day=DAY),
                        now=datetime(2024, 10, 1, 9, 0))
        assert capped.skipped == f"今日已提醒{DAILY_CAP}次，达到每日上限"
        # the next day (China time) counts anew
        [fresh] = plan(reminding.finance_targets(account(tree, "province_finance"), "unfiled", year=2024, day=DAY),
                       now=datetime(2024, 10, 1, 16, 30))
        assert fresh.skipped is None


def test_offices_remind_monitoring_units_of_their_own_city_with_no_record_this_period(app, tree):
    from portal.records.periods import ensure_year_periods
    from tests.factories import file_record

    with app.app_context():
        ensure_year_periods(date.today().year)
        period = reminding.current_period()
        file_record(account(tree, "gz_merchant"), app.instance_path, period_id=str(period.id))
        db.session.commit()
        city = reminding.office_targets(account(tree, "gz_office"), "no_record")
        names = {t.unit.name for t in city}
        assert names and all(t.unit.city_code == tree.gz_office.city_code for t in city)
        assert account(tree, "gz_merchant").unit.name not in names  # it filed this period
        province = reminding.office_targets(account(tree, "province"), "no_record")
        assert {t.unit.city_code for t in province} > {tree.gz_office.city_code}


def test_preview_then_send_delivers_and_keeps_the_reminder_on_the_units_page(app, as_role, units, outbox, tree):
    finance = as_role("province_finance")
    token = csrf_token(finance, "/oversight/reminders/")
    fields = {"csrf_token": token, "kind": "unfiled", "threshold": "", "year": "2024", "day": "2024-10-01"}
    preview = finance.post("/oversight/reminders/preview", data=fields)
    page = preview.get_data(as_text=True)
    assert preview.status_code == 200 and "将向 1 个单位发送" in page and "省实验中学" in page
    assert "137****0112" in page and "13700000112" not in page  # numbers masked
    assert outbox.messages(tree.budget_unit.phone) == []
    sent = finance.post("/oversight/reminders/send", data=fields)
    assert sent.status_code == 200 and "已向 1 个单位发送提醒短信" in sent.get_data(as_text=True)
    assert outbox.received(tree.budget_unit.phone, "【省财政厅】")
    unit_page = finance.get(f"/oversight/units/{units['budget_unit'].unit_id}?year=2024").get_data(as_text=True)
    assert re.search(r"省财政厅</td>\s*<td>未填报预留份额</td>", unit_page)


@pytest.mark.parametrize("values, message", [
    ({"kind": "no_record"}, "请选择提醒对象"), ({"kind": "behind", "threshold": "120"}, "完成率应在0到100之间"),
    ({"kind": "behind", "threshold": "abc"}, "只能输入数字"), ({"kind": "x" * 5000}, "请选择提醒对象"),
])
def test_hostile_reminder_forms_get_a_message(as_role, units, values, message):
    finance = as_role("province_finance")
    data = {"csrf_token": csrf_token(finance, "/oversight/reminders/"), "year": "2024", "day": "2024-10-01",
            "threshold": "50", **values}
    answer = finance.post("/oversight/reminders/preview", data=data)
    assert answer.status_code == 422 and message in answer.get_data(as_text=True)


def test_a_malformed_year_or_day_is_a_400(as_role, units):
    finance = as_role("province_finance")
    data = {"csrf_token": csrf_token(finance, "/oversight/reminders/"), "kind": "unfiled", "year": "20x4",
            "day": "2024-10-01"}
    assert finance.post("/oversight/reminders/preview", data=data).status_code == 400


def test_a_department_heads_reminder_is_kept_and_counts_against_the_cap(app, as_role, tree, outbox):
    from portal.reservations.policy import ensure_policy

    with app.app_context():
        ensure_policy(2024)
        db.session.commit()
    head = as_role("superior_budget")
    for attempt in range(DAILY_CAP + 1):
        answer = head.post("/reservations/remind", data={"csrf_token": csrf_token(head, "/reservations/confirmations")})
        assert answer.status_code == 302
    page = head.get("/reservations/confirmations").get_data(as_text=True)
    assert "1个单位今日已达提醒上限或没有账号，未发送" in page
    with app.app_context():
        kept = db.session.scalars(db.select(Reminder).where(Reminder.unit_id == tree.budget_unit.unit_id)).all()
        assert len(kept) == DAILY_CAP and all(r.sender_unit_id == tree.superior_budget.unit_id for r in kept)
    assert outbox.received(tree.budget_unit.phone, "【省教育厅】请于02月20日前登录门户填报本单位2024年度预留份额")


def test_the_reminders_sent_and_the_imports_go_to_excel_within_scope(app, as_role, units, tree):
    import io

    from openpyxl import load_workbook

    from tests.authz_area_oversight import prepare

    finance = as_role("province_finance")
    fields = {"csrf_token": csrf_token(finance, "/oversight/reminders/"), "kind": "unfiled", "threshold": "",
              "year": "2024", "day": "2024-10-01"}
    finance.post("/oversight/reminders/send", data=fields)
    sheet = load_workbook(io.BytesIO(finance.get("/oversight/reminders/export").data)).active
    [row] = list(sheet.iter_rows(min_row=2, values_only=True))
    assert row[3] == "省实验中学" and row[4] == "未填报预留份额" and row[2] == "137****0101"
    assert list(load_workbook(io.BytesIO(as_role("gz_finance").get("/oversight/reminders/export").data)).active
                .iter_rows(min_row=2, values_only=True)) == []

    with app.app_context():
        prepare(app, tree)  # Guangzhou's import
        db.session.commit()
    for role, expected in (("province_finance", 1), ("gz_finance", 1), ("county_finance", 0)):
        book = load_workbook(io.BytesIO(as_role(role).get("/oversight/imports/export").data))
        assert len(list(book.active.iter_rows(min_row=2))) == expected, role


def test_a_monitoring_unit_sees_its_reminders_and_so_does_its_office(app, as_role, tree, outbox):
    from portal.records.periods import ensure_year_periods

    with app.app_context():
        ensure_year_periods(date.today().year)
        db.session.commit()
    office = as_role("gz_office")
    fields = {"csrf_token": csrf_token(office, "/oversight/reminders/"), "kind": "no_record", "threshold": "",
              "year": "2024", "day": "2024-10-01"}
    assert office.post("/oversight/reminders/send", data=fields).status_code == 200
    assert outbox.received(tree.gz_market.phone, "【广州协作办】请登录门户报送")
    own = as_role("gz_market").get("/profile").get_data(as_text=True)
    assert "本单位收到的提醒" in own and "本期未报送购销记录" in own
    managed = office.get(f"/accounts/units/{tree.gz_market.unit_id}").get_data(as_text=True)
    assert "本期未报送购销记录" in managed
