"""The oversight roll-up summed in SQL (oversight.rollup) against the per-unit figures summed in
Python (completion.unit_figures, as /oversight/ read them before): the same totals, levels,
cities, departments and own units, in the same order, page by page."""
from datetime import date
from decimal import Decimal

import pytest

from portal.extensions import db
from portal.oversight import completion, rollup
from portal.oversight.models import FulfilmentImport, FulfilmentLine
from portal.oversight.scope import OrgMap
from tests.oversight_rollup_helpers import DAYS, YEAR, Province


def numbers(totals):
    return (totals.key, totals.label, totals.units, totals.accounts_opened, totals.accounts_used, totals.filed,
            totals.confirmed, totals.final, totals.overdue, totals.reserved_canteen, totals.reserved_union,
            totals.bought_canteen, totals.bought_union)


def by_units(finance_id, year, day):
    """What /oversight/ showed when it read every unit: (total, levels, cities, departments, own
    units in order)."""
    org = OrgMap(under=finance_id)
    node = org.nodes[finance_id]
    subtree = org.finance_subtree(finance_id)
    figures = completion.unit_figures(org.units_of(subtree), year, day,
                                      subtree if node.parent_id in org.nodes else None)
    own = [f for f in figures if org.finance_of(f.node.id) == finance_id]
    departments = completion.group(own, key=lambda f: org.department_of(f.node.id),
                                   label=lambda key: org.nodes[key].name)
    own.sort(key=lambda f: (f.canteen_completion is None, f.canteen_completion or 0, f.node.name, f.node.id))
    cities = completion.group(figures, key=lambda f: f.node.city_code or "", label=str)
    return (numbers(completion.total(figures)), [numbers(t) for t in completion.by_finance(org, finance_id, figures)],
            sorted(numbers(t) for t in cities), sorted((numbers(t) for t in departments), key=lambda n: (n[1], n[0])),
            own)


def in_sql(finance_id, year, day, size=4):
    org = OrgMap(under=finance_id, units=False)
    whole = org.nodes[finance_id].parent_id not in org.nodes
    cells = rollup.cells(org.finance_subtree(finance_id), finance_id, year, day, whole=whole)
    own, after = [], None
    while True:
        page, after = rollup.own_page(finance_id, year, day, after, size, whole=whole)
        assert len(page) == size or after is None
        own += page
        if after is None:
            break
    cities = rollup.group(cells, key=lambda cell: cell.city_code or "", label=str)
    return (numbers(rollup.total(cells)), [numbers(t) for t in rollup.by_finance(org, finance_id, cells)],
            sorted(numbers(t) for t in cities), [numbers(t) for t in rollup.departments(cells, finance_id)], own)


@pytest.fixture
def province(ctx, tree):
    made = Province(tree)
    made.build()
    order = made.department(made.province, "排序部门", 0, None)[0]
    # canteen completion to 0.01, half to even as Decimal.quantize: 1/32 is 3.125 %, so 3.12 %, level
    # with 甲 and ahead of it by name; rounded half up it would have followed 丙
    cases = {"乙": ("32.00", "1.00"), "甲": ("100.00", "3.12"), "丙": ("100.00", "3.13"),
             "丁": ("800.00", "3.00"), "戊": ("100.00", "0.38"),
             # nothing reserved: last, by code point (a collation would put a before B)
             "a单位": (None, "5.00"), "B单位": ("0.00", "1.00"), "Z单位": (None, None), "单位": (None, "1.00")}
    made_import = FulfilmentImport(finance_id=made.province.id, year=YEAR, as_of=date(2024, 5, 1), filename="x",
                                   sha256="0" * 64, line_count=0, canteen_total=0, union_total=0,
                                   created_by_id=made.staff.id)
    db.session.add(made_import)
    db.session.flush()
    for name, (reserved, bought) in cases.items():
        unit = made.unit(order, name)
        made.form(unit, "final", Decimal(reserved) if reserved else None, None, made.province)
        if bought:
            db.session.add(FulfilmentLine(import_id=made_import.id, unit_id=unit.id, year=YEAR, as_of=made_import.as_of,
                                          canteen_amount=Decimal(bought), union_amount=0))
    db.session.commit()
    return made


@pytest.mark.parametrize("day", DAYS)
def test_every_level_sums_in_sql_to_what_its_units_add_up_to(province, day):
    for finance in (province.province, province.gz, province.county, province.sz, province.closed):
        expected, found = by_units(finance.id, YEAR, day), in_sql(finance.id, YEAR, day)
        assert found[:4] == expected[:4], (finance.name, day)
        assert found[4] == expected[4], (finance.name, day)
    total = by_units(province.province.id, YEAR, day)[0]
    assert total[2] > 60  # units


def test_the_year_before_counts_its_own_lines_and_forms(province):
    day = date(2024, 2, 25)
    expected, found = by_units(province.province.id, YEAR - 1, day), in_sql(province.province.id, YEAR - 1, day)
    assert found == expected
    assert found[0][11] > 0  # the 2023 import dated 10 February 2024


def test_own_units_are_ordered_by_rounded_completion_then_name_by_code_point(province):
    own = in_sql(province.province.id, YEAR, date(2024, 7, 1), size=50)[4]
    names = [f.node.name for f in own]
    assert names.index("乙") < names.index("甲") < names.index("丙")
    assert names.index("丁") < names.index("戊")
    assert [f.canteen_completion for f in own if f.node.name in ("乙", "甲", "丁")] == [
        Decimal("0.38"), Decimal("3.12"), Decimal("3.12")]
    assert [name for name in names if name.endswith("单位")][-4:] == ["B单位", "Z单位", "a单位", "单位"]


def test_a_page_after_a_unit_not_on_the_list_starts_from_the_top(province):
    first, _ = rollup.own_page(province.province.id, YEAR, date(2024, 7, 1), None, 5, whole=True)
    elsewhere = next(unit for unit in province.budget_units if unit.parent_id == province.gz.id)
    again, _ = rollup.own_page(province.province.id, YEAR, date(2024, 7, 1), elsewhere.id, 5, whole=True)
    assert again == first
