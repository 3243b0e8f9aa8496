"""Reporting periods (portal/records/periods.py): the province office opens and closes them;
who may, what a new one refuses, and what a filer or the totals see afterwards."""
from datetime import datetime
from decimal import Decimal

import pytest
from sqlalchemy import select

from portal.accounts.models import Account
from portal.audit import AuditEvent
from portal.errors import PermissionDenied, ValidationFailed
from portal.extensions import db
from portal.records import entry, periods, workflow
from portal.records.models import ReportingPeriod
from tests.factories import file_record
from tests.records_helpers import record_form

pytestmark = pytest.mark.usefixtures("reference_edits")

#: 2027-01-02 10:00 in China
NEW_YEAR = datetime(2027, 1, 2, 2, 0)


@pytest.fixture
def province(app, tree, ctx):
    return db.session.get(Account, tree.province.id)


def _audit_actions():
    return [e.action for e in db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))]


@pytest.mark.parametrize("role", ["province_reviewer", "gz_office", "system", "province_finance", "gz_merchant"])
def test_only_the_province_office_admin_keeps_the_periods(app, tree, ctx, role):
    actor = db.session.get(Account, getattr(tree, role).id)
    assert not periods.may_manage_periods(actor)
    period = db.session.scalar(select(ReportingPeriod))
    with pytest.raises(PermissionDenied):
        periods.add_period(actor, year=2027, fill_type="current")
    with pytest.raises(PermissionDenied):
        periods.set_period_open(actor, period, False)
    assert period.open


def test_a_new_period_is_named_after_its_year_and_type_and_audited(province):
    period = periods.add_period(province, year="2027", fill_type="current", now=NEW_YEAR)
    assert (period.name, period.year, period.fill_type, period.open) == ("2027年购销信息登记", 2027, "current", True)
    assert period in entry_choices()
    assert _audit_actions()[-1] == "period_added"


def entry_choices():
    return periods.open_periods()


@pytest.mark.parametrize("year, fill_type, name, field, message", [
    ("", "current", "", "year", "请填写年度"),
    ("二〇二七", "current", "", "year", "请填写年度"),
    ("2015", "current", "", "year", "年度应在 2016 至 2028 之间"),
    ("2029", "current", "", "year", "年度应在 2016 至 2028 之间"),
    ("2027", "", "", "fill_type", "请选择填报类型"),
    ("2027", "current", "长" * 41, "name", "名称不能超过40个字"),
])
def test_period_refusals(province, year, fill_type, name, field, message):
    with pytest.raises(ValidationFailed) as refused:
        periods.add_period(province, year=year, fill_type=fill_type, name=name, now=NEW_YEAR)
    assert message in refused.value.errors[field]


def test_a_period_name_is_unique(province):
    periods.add_period(province, year=2027, fill_type="current", now=NEW_YEAR)
    with pytest.raises(ValidationFailed) as refused:
        periods.add_period(province, year=2027, fill_type="current", now=NEW_YEAR)
    assert refused.value.errors["name"] == "已有名为“2027年购销信息登记”的填报期"
    second = periods.add_period(province, year=2027, fill_type="backfill", name="2027年第二批补登", now=NEW_YEAR)
    assert second.name == "2027年第二批补登"


def test_after_new_year_the_missing_period_is_reported_until_opened(province):
    assert periods.missing_current_period(NEW_YEAR) == 2027
    period = periods.add_period(province, year=2027, fill_type="current", now=NEW_YEAR)
    assert periods.missing_current_period(NEW_YEAR) is None
    periods.set_period_open(province, period, False)
    assert periods.missing_current_period(NEW_YEAR) == 2027


def test_a_closed_period_takes_no_new_record_and_no_submission(app, tree, province):
    merchant = db.session.get(Account, tree.gz_merchant.id)
    draft = file_record(merchant, app.instance_path, submit=False)
    period = draft.period
    periods.set_period_open(province, period, False)
    assert period not in entry_choices()
    _, errors = entry.parse_fields(record_form())
    assert errors["period_id"] == "所选填报类型不存在或已关闭"
    with pytest.raises(ValidationFailed) as refused:
        workflow.submit(merchant, draft, amount_threshold=Decimal("500000"))
    assert "已关闭" in refused.value.errors["period_id"]
    periods.set_period_open(province, period, True)
    workflow.submit(merchant, draft, amount_threshold=Decimal("500000"))
    assert draft.status == "filed"
    assert {"period_closed", "period_opened"} <= set(_audit_actions())


def test_periods_list_their_approved_totals(app, tree, province):
    from portal.records.workflow import approve

    record = file_record(db.session.get(Account, tree.gz_enterprise.id), app.instance_path, amount="1000.25")
    approve(db.session.get(Account, tree.gz_office.id), record, expected_version=record.version)
    rows = {period.id: (count, amount) for period, count, amount in periods.periods_with_totals()}
    assert rows[record.period_id] == (1, Decimal("1000.25"))
    assert all(value == (0, 0) for key, value in rows.items() if key != record.period_id)
