"""Importing the 832 statistics export: matched by credit code, all or nothing, a series by date."""
import io
from datetime import date
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from portal.accounts.models import Account
from portal.errors import PermissionDenied, ValidationFailed
from portal.extensions import db
from portal.oversight import completion, fulfilment_import
from portal.oversight.models import FulfilmentImport, FulfilmentLine
from portal.oversight.scope import OrgMap
from tests.factories import credit_code
from tests.oversight_helpers import prepare_fulfilment, workbook

TODAY = date(2024, 12, 31)


@pytest.fixture
def units(ctx, tree):
    made = prepare_fulfilment(tree)
    db.session.commit()
    return made


def account(tree, role):
    return db.session.get(Account, getattr(tree, role).id)


def plan(tree, role, rows, as_of=date(2024, 6, 30), **kwargs):
    return fulfilment_import.plan_import(account(tree, role), workbook(rows, **kwargs), year=2024, as_of=as_of,
                                         today=TODAY)


def test_a_good_file_is_planned_then_kept_as_one_import(tree, units):
    school, county = units["budget_unit"], units["county_budget"]
    planned = plan(tree, "province_finance", [
        [school.name, school.code, 150000, "12,000.50", "2024-06-30"],
        [county.name, county.code.lower(), 20000.5, None, "2024/6/30"],
    ])
    assert planned.ok, planned.errors
    assert [line.unit.id for line in planned.lines] == [school.unit_id, county.unit_id]
    assert planned.canteen_total == Decimal("170000.50") and planned.union_total == Decimal("12000.50")
    assert db.session.scalar(db.select(db.func.count(FulfilmentLine.id))) == 0  # a plan writes nothing

    made = fulfilment_import.commit_import(account(tree, "province_finance"), planned, filename="832.xlsx",
                                           data=b"x")
    db.session.commit()
    assert made.line_count == 2 and made.as_of == date(2024, 6, 30)
    assert completion.purchases_on(2024, date(2024, 7, 1))[school.unit_id][1:] == (Decimal("150000.00"),
                                                                                   Decimal("12000.50"))


def test_one_wrong_row_keeps_every_row_out_and_says_why_in_chinese(tree, units):
    school = units["budget_unit"]
    planned = plan(tree, "province_finance", [
        [school.name, school.code, 150000, 0, None],
        ["无此单位", "91440101MA5ABCDE1X", 1, 1, None],
        [school.name, school.code, -5, "一百", None],
        ["", "", "", "", "2024-07-01"],
    ])
    assert not planned.ok
    assert set(planned.errors) == {4, 5, 6}
    assert "统一社会信用代码不正确" in planned.errors[4][0]
    assert any("不能为负数" in m for m in planned.errors[5]) and any("应为金额" in m for m in planned.errors[5])
    assert any("与第3行重复" in m for m in planned.errors[5])
    assert any("2024-07-01与本次导入的2024-06-30不一致" in m for m in planned.errors[6])

    annotated = load_workbook(io.BytesIO(fulfilment_import.error_workbook(
        workbook([[school.name, school.code, 1, 1, None], ["x", "bad", 1, 1, None]]), {4: ["统一社会信用代码不正确"]})))
    sheet = annotated.active
    assert sheet.cell(row=2, column=7).value == "错误原因"
    assert sheet.cell(row=4, column=7).value == "统一社会信用代码不正确"


def test_a_city_finance_imports_its_own_and_its_counties_units_only(tree, units):
    gz, county, school = units["gz_budget"], units["county_budget"], units["budget_unit"]
    planned = plan(tree, "gz_finance", [[gz.name, gz.code, 1, 0, None], [county.name, county.code, 2, 0, None],
                                        [school.name, school.code, 3, 0, None]])
    assert set(planned.errors) == {5}
    assert planned.errors[5] == ["该单位不属于本财政部门或下级财政部门"]
    county_plan = plan(tree, "county_finance", [[gz.name, gz.code, 1, 0, None]])
    assert county_plan.errors == {3: ["该单位不属于本财政部门或下级财政部门"]}


def test_the_name_is_a_hint_and_a_lower_cumulative_figure_a_warning(tree, units):
    school = units["budget_unit"]
    first = plan(tree, "province_finance", [["省实验中学（本部）", school.code, 9000, 100, None]])
    assert first.ok and first.lines[0].warnings == ["名称与系统登记的“省实验中学”不一致（已按信用代码匹配）"]
    fulfilment_import.commit_import(account(tree, "province_finance"), first, filename="a.xlsx", data=b"a")
    db.session.commit()
    later = plan(tree, "province_finance", [[school.name, school.code, 8000, 100, None]], as_of=date(2024, 9, 30))
    assert later.ok and later.lines[0].previous[0] == date(2024, 6, 30)
    assert "累计金额低于2024-06-30导入的数据，请核对" in later.lines[0].warnings
    unknown = plan(tree, "province_finance", [[school.name, credit_code("91440101MA5FTK1D1"), 1, 1, None]])
    assert "同名单位“省实验中学”已登记" in unknown.errors[3][0]


def test_the_as_of_date_comes_from_the_file_when_not_given_and_is_bounded(tree, units):
    school = units["budget_unit"]
    from_file = plan(tree, "province_finance", [[school.name, school.code, 1, 1, "2024年9月30日"]], as_of=None)
    assert from_file.ok and from_file.as_of == date(2024, 9, 30)
    with pytest.raises(ValidationFailed) as none_given:
        plan(tree, "province_finance", [[school.name, school.code, 1, 1, None]], as_of=None)
    assert "as_of" in none_given.value.errors
    with pytest.raises(ValidationFailed):
        plan(tree, "province_finance", [[school.name, school.code, 1, 1, None]], as_of=date(2023, 12, 31))
    with pytest.raises(ValidationFailed):
        fulfilment_import.plan_import(account(tree, "province_finance"), workbook([[1]]), year=2024,
                                      as_of=date(2025, 1, 2), today=TODAY)


@pytest.mark.parametrize("data, message", [
    (b"", "请选择"), (b"not a workbook", "Excel"),
    (workbook([["a", "b"]], header=["单位名称", "金额"]), "找不到表头"),
    (workbook([["a", "b", 1]], header=["单位名称", "统一社会信用代码", "食堂食材采购金额"]), "工会采购金额"),
    (workbook([], header=["单位名称", "统一社会信用代码", "食堂食材采购金额", "工会采购金额"]), "没有数据行"),
])
def test_files_that_cannot_be_read_are_refused_with_a_message(tree, units, data, message):
    with pytest.raises(ValidationFailed) as refused:
        fulfilment_import.plan_import(account(tree, "province_finance"), data, year=2024, as_of=date(2024, 6, 30),
                                      today=TODAY)
    assert message in refused.value.errors["file"]


def test_only_finance_departments_import(tree, units):
    with pytest.raises(PermissionDenied):
        plan(tree, "budget_unit", [["x", units["budget_unit"].code, 1, 1, None]])


def test_every_import_is_kept_so_completion_is_a_series(tree, units):
    school = units["budget_unit"]
    finance = account(tree, "province_finance")
    for as_of, amount in ((date(2024, 3, 31), 30000), (date(2024, 6, 30), 150000), (date(2024, 9, 30), 240000)):
        planned = plan(tree, "province_finance", [[school.name, school.code, amount, 0, None]], as_of=as_of)
        fulfilment_import.commit_import(finance, planned, filename=f"{as_of}.xlsx", data=b"x")
    db.session.commit()
    assert db.session.scalar(db.select(db.func.count(FulfilmentImport.id))) == 3
    org = OrgMap()
    node = org.nodes[school.unit_id]
    on = {day: completion.unit_figures([node], 2024, day)[0].canteen_completion
          for day in (date(2024, 2, 1), date(2024, 5, 1), date(2024, 8, 1), date(2024, 12, 31))}
    assert on == {date(2024, 2, 1): Decimal("0.00"), date(2024, 5, 1): Decimal("10.00"),
                  date(2024, 8, 1): Decimal("50.00"), date(2024, 12, 31): Decimal("80.00")}


def test_the_previous_figure_is_the_imported_years_even_when_last_years_shares_its_day(tree, units):
    """The year's statistics may be dated up to 31 March of the next year: on such a day a unit can
    hold lines of two years, and only the imported year's is its previous figure."""
    school, actor, day = units["budget_unit"], account(tree, "province_finance"), date(2025, 2, 15)

    def imported(year, as_of, canteen):
        planned = fulfilment_import.plan_import(actor, workbook([[school.name, school.code, canteen, 0, None]]),
                                                year=year, as_of=as_of, today=date(2025, 3, 31))
        assert planned.ok, planned.errors
        return planned

    for year, canteen in ((2025, 800), (2024, 90000)):  # this year's first figure, then last year's final
        fulfilment_import.commit_import(actor, imported(year, day, canteen), filename=f"{year}.xlsx", data=b"a")
        db.session.commit()
    later = imported(2025, date(2025, 3, 15), 1000)
    assert later.lines[0].previous == (day, Decimal("800.00"), Decimal("0.00"))
    assert not [warning for warning in later.lines[0].warnings if "累计金额低于" in warning]
