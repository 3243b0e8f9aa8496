"""The counts and the ancestors tallies.py keeps in the flush of each change agree, at every step of
the workflow, with what `rebuild` computes from the tree and the forms, and with the lists counted
the old way (every unit of the department, every form loaded); the pages show them a page at a time."""
import re
from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import select

from portal import create_app
from portal.accounts import service
from portal.accounts.kinds import UnitKind
from portal.accounts.models import Account
from portal.cli import apply_schema
from portal.clock import to_china, utcnow
from portal.demo import build_demo, build_demo_reservations
from portal.extensions import db
from portal.reservations import queries, scope, tallies, unit_changes, workflow
from portal.reservations.models import BudgetUnitAncestor, ReservationTally, YearPolicy
from tests.factories import build_tree
from tests.test_migration_0010 import scratch_url  # noqa: F401 (fixture)

FIGURES = {"canteen_type": "own", "remark": "", "canteen_total": "1000000", "ratio": "30", "union_need": "0",
           "union_remark": "本年度无工会采购计划"}
CONTACTS = {"contact_name": "李晓明", "contact_mobile": "13912345678", "contact_landline": "020-83133000"}
YEAR = 2301


def no_sheet(*_):
    pass


@pytest.fixture
def t(app, ctx):
    made = build_tree()
    # a third level: a unit under the school, whose lists the school and the bureau both hold
    made.annex = service.open_unit(made.budget_unit, kind=UnitKind.BUDGET_UNIT, name="省实验中学分校",
                                   contact_name="分校联系人", phone="13700000113").accounts[0]
    today = to_china(utcnow()).date()
    db.session.add(YearPolicy(year=YEAR, min_ratio=Decimal("30"), encouraged_ratio=Decimal("15"),
                              national_floor=Decimal("10"), filing_deadline=today + timedelta(days=30)))
    db.session.commit()
    return made


def kept():
    """The tallies (zero counts left out) and the ancestor rows as they stand."""
    db.session.flush()
    counts = set(db.session.execute(select(ReservationTally.unit_id, ReservationTally.year, ReservationTally.key,
                                           ReservationTally.count).where(ReservationTally.count != 0)).all())
    return counts, set(db.session.execute(select(BudgetUnitAncestor.ancestor_id, BudgetUnitAncestor.unit_id)).all())


def assert_kept_as_rebuilt(owners):
    before = kept()
    tallies.rebuild()
    assert kept() == before
    for owner in owners:
        unit = owner.unit
        units = queries.finance_units(unit) if unit.kind == UnitKind.FINANCE else scope.department_units(unit)
        rows, counts = queries.progress(units, YEAR)
        shown = counts_of(unit.id)
        assert {key: shown[key] for key in counts} == dict(counts), unit.name
        assert sum(shown[key] for key in ("unfiled", "submitted", "returned", "confirmed", "final")) == len(rows)
        assert queries.to_confirm_count(owner, YEAR) == len(queries.awaiting_superior(owner, YEAR))
        assert queries.to_finalize_count(owner, YEAR) == len(queries.awaiting_finance(owner, YEAR))
        assert [u.id for u, _ in queries.department_forms(unit.id, YEAR)] == [u.id for u, _ in rows]


def counts_of(unit_id):
    return queries.progress_counts(tallies.read(unit_id, YEAR))


def file(actor):
    policy = db.session.get(YearPolicy, YEAR)
    form = workflow.form_for(actor, policy)
    workflow.save_figures(actor, form, FIGURES, policy, expected_version=form.version)
    workflow.save_contacts(actor, form, CONTACTS, expected_version=form.version)
    workflow.submit(actor, form, policy, attested=True, expected_version=form.version, make_sheet=no_sheet)
    return form


def test_tallies_follow_every_step_and_agree_with_a_rebuild(t):
    accounts = {name: db.session.get(Account, getattr(t, name).id) for name in
                ("budget_unit", "superior_budget", "annex", "gz_budget", "province_finance", "gz_finance")}
    owners = [accounts[name] for name in ("superior_budget", "budget_unit", "province_finance", "gz_finance")]
    assert {a for a, u in kept()[1] if u == accounts["annex"].unit_id} == {
        accounts[name].unit_id for name in ("annex", "budget_unit", "superior_budget", "province_finance")}
    assert_kept_as_rebuilt(owners)
    policy = db.session.get(YearPolicy, YEAR)
    draft = workflow.form_for(accounts["gz_budget"], policy)
    workflow.save_figures(accounts["gz_budget"], draft, FIGURES, policy, expected_version=draft.version)
    assert_kept_as_rebuilt(owners)
    school, annex, head = (file(accounts[name]) for name in ("budget_unit", "annex", "superior_budget"))
    assert (school.status, annex.status, head.status) == ("submitted",) * 3
    assert_kept_as_rebuilt(owners)
    workflow.return_to_unit(accounts["budget_unit"], annex, expected_version=annex.version, reason="请核实")
    workflow.confirm(accounts["superior_budget"], school, expected_version=school.version, make_sheet=no_sheet)
    assert_kept_as_rebuilt(owners)
    annex = file(accounts["annex"])
    workflow.confirm(accounts["budget_unit"], annex, expected_version=annex.version, make_sheet=no_sheet)
    workflow.confirm(accounts["superior_budget"], head, expected_version=head.version, make_sheet=no_sheet)
    head_unit = accounts["superior_budget"].unit
    assert queries.readiness(head_unit, YEAR, counts_of(head_unit.id)).ready == 3
    workflow.submit_batch(accounts["superior_budget"], YEAR)
    assert_kept_as_rebuilt(owners)
    workflow.finalize(accounts["province_finance"], school, expected_version=school.version, make_sheet=no_sheet)
    workflow.finance_return(accounts["province_finance"], head, expected_version=head.version, reason="请核实")
    gz = file(accounts["gz_budget"])
    assert gz.status == "confirmed"  # alone under its finance department: straight to finance
    assert_kept_as_rebuilt(owners)
    db.session.commit()
    # closing the annex takes it and its form out of the lists, not out of the queues
    unit_changes.close_unit(accounts["budget_unit"], accounts["annex"].unit, "机构改革")
    assert_kept_as_rebuilt(owners)
    assert counts_of(accounts["superior_budget"].unit_id)["confirmed"] == 0


def test_readiness_names_the_first_units_and_counts_the_rest(t):
    head = db.session.get(Account, t.superior_budget.id)
    file(db.session.get(Account, t.budget_unit.id))
    found = queries.readiness(head.unit, YEAR, counts_of(head.unit_id), shown=2)
    assert (found.ready, found.problems) == (0, 3)
    assert found.first_problems == ["省教育厅：未填报", "省实验中学：待上级预算单位确认"]
    ready, problems = workflow.department_readiness(head.unit, YEAR)
    assert ready == [] and problems[:2] == found.first_problems and len(problems) == 3


def test_the_lists_page_by_key_with_their_counts(app, tree, login):
    app.config["PAGE_SIZE"] = 2
    with app.app_context():
        head = db.session.get(Account, tree.superior_budget.id)
        for number in range(3):
            service.open_unit(head, kind=UnitKind.BUDGET_UNIT, name=f"省教育厅直属单位{number}",
                              contact_name="联系人", phone=f"1370000012{number}")
        db.session.add(YearPolicy(year=YEAR, min_ratio=30, encouraged_ratio=15, national_floor=10,
                                  filing_deadline=to_china(utcnow()).date() + timedelta(days=30)))
        db.session.commit()
        for unit_id in [u.id for u in scope.department_units(head.unit)][2:]:
            account = db.session.scalar(select(Account).where(Account.unit_id == unit_id))
            file(account)
        db.session.commit()
    bureau = login(app.test_client(), tree.superior_budget.phone)
    page = bureau.get("/reservations/confirmations").get_data(as_text=True)
    queue, progress = page.split("本部门填报进度")
    assert re.search(r'id="awaiting-count">3<', queue) and queue.count("省教育厅直属单位") == 2
    assert "未填报 2 · 待确认 3" in progress
    assert "以下单位尚未确认：省教育厅：未填报；省实验中学：未填报；省教育厅直属单位0：待上级预算单位确认" in progress
    queue_next = re.search(r'href="([^"]*queue_after=\d+)"', queue).group(1).replace("&amp;", "&")
    units_next = re.search(r'href="([^"]*[?&]after=\d+[^"]*)"', progress).group(1).replace("&amp;", "&")
    more = bureau.get(queue_next).get_data(as_text=True).split("本部门填报进度")[0]
    assert more.count("省教育厅直属单位2") == 1 and "下一页" not in more
    second = bureau.get(units_next).get_data(as_text=True).split("本部门填报进度")[1].split("汇总提交财政部门")[0]
    assert "<td>3</td>" in second and "省教育厅直属单位0" in second and "<td>5</td>" not in second


def test_migration_0015_counts_the_units_and_forms_already_there(scratch_url, tmp_path):  # noqa: F811
    """A province upgrading mid-season: its superiors' and finance departments' pages count the
    forms on file from the first visit."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": scratch_url, "PORTAL_INSTANCE": str(tmp_path / "instance")})
    directory = app.extensions["migrate"].directory
    with app.app_context():
        apply_schema()
        build_demo()
        build_demo_reservations(app.instance_path, "http://portal.test")
        db.session.commit()
        live = kept()
        assert len(live[0]) > 10 and len(live[1]) > 10  # kept by the demo's own steps
        db.session.remove()
        downgrade(directory=directory, revision="0014")
        upgrade(directory=directory, revision="0015")
        assert kept() == live
        db.session.remove()
        db.engine.dispose()
