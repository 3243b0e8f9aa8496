"""Completion rolled up across finance levels: reserved share against 832 purchases on a day."""
from datetime import date
from decimal import Decimal

import pytest

from portal.accounts.models import Account
from portal.extensions import db
from portal.oversight import completion, fulfilment_import
from portal.oversight.scope import OrgMap
from portal.reservations.models import Reservation, YearPolicy
from tests.oversight_helpers import prepare_fulfilment, workbook


@pytest.fixture
def units(ctx, tree):
    made = prepare_fulfilment(tree)
    finance = db.session.get(Account, tree.province_finance.id)
    rows = [[u.name, u.code, amount, union, None] for u, amount, union in (
        (made["superior_budget"], 100000, 0), (made["budget_unit"], 240000, 40000),
        (made["gz_budget"], 50000, 2000), (made["county_budget"], 100000, 0))]
    planned = fulfilment_import.plan_import(finance, workbook(rows), year=2024, as_of=date(2024, 9, 30),
                                            today=date(2024, 12, 31))
    fulfilment_import.commit_import(finance, planned, filename="832.xlsx", data=b"x")
    db.session.commit()
    return made


def test_the_province_sees_its_own_level_and_each_city_with_its_counties(tree, units):
    org = OrgMap()
    province = db.session.get(Account, tree.province_finance.id).unit_id
    figures = completion.unit_figures(org.units_of(org.finance_subtree(province)), 2024, date(2024, 10, 1))
    rows = {row.label: row for row in completion.by_finance(org, province, figures)}
    assert set(rows) == {"省财政厅（本级）", "广州市财政局"}
    own, guangzhou = rows["省财政厅（本级）"], rows["广州市财政局"]
    assert (own.units, own.reserved_canteen, own.bought_canteen) == (2, Decimal("800000.00"), Decimal("340000.00"))
    assert own.canteen_completion == Decimal("42.50")
    assert own.union_completion == Decimal("100.00")
    # the city's row holds its county's unit too
    assert (guangzhou.units, guangzhou.reserved_canteen, guangzhou.bought_canteen) == (
        2, Decimal("300000.00"), Decimal("150000.00"))
    assert guangzhou.canteen_completion == Decimal("50.00") and guangzhou.union_completion == Decimal("20.00")

    city = db.session.get(Account, tree.gz_finance.id).unit_id
    city_rows = completion.by_finance(org, city, completion.unit_figures(
        org.units_of(org.finance_subtree(city)), 2024, date(2024, 10, 1)))
    assert [(row.label, row.units) for row in city_rows] == [("广州市财政局（本级）", 1), ("天河区财政局", 1)]


def test_only_forms_finance_confirmed_count_as_reserved_and_a_day_before_the_import_sees_nothing(tree, units):
    school = db.session.scalar(db.select(Reservation).where(Reservation.unit_id == units["budget_unit"].unit_id))
    school.status = "confirmed"
    db.session.flush()
    org = OrgMap()
    [figures] = completion.unit_figures([org.nodes[units["budget_unit"].unit_id]], 2024, date(2024, 10, 1))
    assert figures.reserved_canteen == 0 and figures.canteen_completion is None
    assert figures.bought_canteen == Decimal("240000.00")
    [before] = completion.unit_figures([org.nodes[units["budget_unit"].unit_id]], 2024, date(2024, 9, 29))
    assert before.bought_canteen == 0 and before.bought_as_of is None


def test_forms_waiting_past_the_years_deadlines_are_overdue(tree, units):
    policy = db.session.get(YearPolicy, 2024)
    assert completion.overdue_reason("submitted", policy, policy.superior_deadline) is None
    assert completion.overdue_reason("submitted", policy, date(2024, 3, 1)) == "主管预算单位逾期未确认"
    assert completion.overdue_reason("confirmed", policy, date(2024, 3, 16)) == "财政部门逾期未确认"
    assert completion.overdue_reason(None, policy, date(2024, 2, 21)) == "逾期未填报"
    assert completion.overdue_reason("final", policy, date(2024, 12, 1)) is None
