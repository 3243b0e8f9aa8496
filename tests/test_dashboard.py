"""/dashboard: the offices' approved purchases by month, city, channel, province and key county
from the month summary kept in the approving transaction; finance's reserved share; every
figure a link to the list behind it, within the person's scope."""
import re
from datetime import date, datetime
from decimal import Decimal

import pytest

from portal.accounts.models import Account
from portal.clock import to_china, utcnow
from portal.extensions import db
from portal.oversight import dashboard
from portal.records import workflow
from portal.records.models import BREAKDOWNS, RecordBreakdown
from tests.factories import file_record


def approved_record(app, tree, filer="gz_merchant", market="gz_market", office="gz_office", at=None, **overrides):
    with app.app_context():
        def account(role):
            return db.session.get(Account, getattr(tree, role).id)

        record = file_record(account(filer), app.instance_path, **overrides)
        workflow.approve(account(market), record, expected_version=record.version, now=at)
        workflow.approve(account(office), record, expected_version=record.version, now=at)
        db.session.commit()
        return record.id, record.amount, record.origin_county_code


def test_an_approval_adds_to_the_month_it_happened_in_china(app, tree):
    # 31 March 17:00 UTC is 1 April in China
    _, amount, county = approved_record(app, tree, at=datetime(2024, 3, 31, 17, 0))
    with app.app_context():
        rows = db.session.scalars(db.select(RecordBreakdown).where(RecordBreakdown.dimension == "month")).all()
        assert sorted((r.scope, r.year, r.key, r.record_count, r.amount) for r in rows) == [
            ("", 2024, "2024-04", 1, amount), ("440100", 2024, "2024-04", 1, amount)]
        counties = db.session.scalars(db.select(RecordBreakdown).where(RecordBreakdown.dimension == "county")).all()
        assert {(r.key, r.record_count) for r in counties} == {(county, 1)}


def test_the_province_follows_a_month_to_the_records_behind_it(app, tree, as_role):
    record_id, amount, _ = approved_record(app, tree)
    today = to_china(utcnow())  # the approval's month in China (UTC+8)
    year, month = today.year, today.month
    office = as_role("province")
    page = office.get("/dashboard").get_data(as_text=True)
    assert f"{year}年消费帮扶统计图表" in page and "data-chart=" in page
    assert "vendor/echarts-6.1.0/echarts.common.min.js" in page
    link = re.search(rf'href="(/reports/records\?[^"]*month={year}-{month:02d}[^"]*)"', page).group(1)
    listed = office.get(link.replace("&amp;", "&")).get_data(as_text=True)
    assert f'href="/records/{record_id}"' in listed
    # the key-county and province tables link to the same record's origin
    assert "按西部协作省份" in page and "各级待审核记录" in page


def test_a_city_office_sees_its_own_city_only(app, tree, as_role):
    record_id, _, _ = approved_record(app, tree)
    page = as_role("sz_office").get("/dashboard").get_data(as_text=True)
    assert "按地级市" not in page
    assert re.search(r'id="year-amount"[^>]*>0\.00<', page)
    # asking for Guangzhou's records by URL still lists Shenzhen's only
    listed = as_role("sz_office").get("/reports/records?city_scope=440100").get_data(as_text=True)
    assert f'href="/records/{record_id}"' not in listed
    mine = as_role("gz_office").get("/reports/records").get_data(as_text=True)
    assert f'href="/records/{record_id}"' in mine


def test_finance_sees_the_reserved_share_with_links_to_its_levels(app, tree, as_role):
    from portal.oversight import fulfilment_import
    from tests.oversight_helpers import prepare_fulfilment, workbook

    with app.app_context():
        units = prepare_fulfilment(tree)
        finance = db.session.get(Account, tree.province_finance.id)
        planned = fulfilment_import.plan_import(finance, workbook([[units["gz_budget"].name, units["gz_budget"].code,
                                                                     100000, 0, None]]),
                                                year=2024, as_of=date(2024, 6, 30), today=date(2024, 12, 31))
        fulfilment_import.commit_import(finance, planned, filename="x.xlsx", data=b"x")
        db.session.commit()
    page = as_role("province_finance").get("/dashboard?year=2024").get_data(as_text=True)
    # 100,000 of the 1,100,000 confirmed canteen share
    assert re.search(r'id="dashboard-completion"[^>]*>9.09%<', page)
    assert f'href="/oversight/finance/{tree.gz_finance.unit_id}?year=2024"' in page
    assert "预留份额与832平台累计采购（按月）" in page and "6月" in page
    city = as_role("gz_finance").get("/dashboard?year=2024").get_data(as_text=True)
    assert f"/oversight/finance/{tree.province_finance.unit_id}?" not in city


@pytest.mark.parametrize("query", ["year=abc", "year=1800"])
def test_a_malformed_year_is_a_400(as_role, tree, query):
    assert as_role("province").get(f"/dashboard?{query}").status_code == 400


@pytest.mark.parametrize("query, message", [("month=2024-13", "月份格式"), ("month=x", "月份格式"),
                                            ("start=2024-02-31", "不是有效的日期")])
def test_malformed_list_filters_are_said(as_role, tree, query, message):
    answer = as_role("province").get(f"/reports/records?{query}")
    assert answer.status_code == 422 and message in answer.get_data(as_text=True)


def test_the_bulk_rebuild_counts_months_as_the_workflow_does(app, tree):
    from bench.records import rebuild_summaries

    approved_record(app, tree, at=datetime(2024, 3, 31, 17, 0))
    approved_record(app, tree, at=datetime(2024, 3, 31, 15, 59))
    with app.app_context():
        kept = breakdown_rows()
        rebuild_summaries()
        rebuilt = breakdown_rows()
        assert rebuilt == kept
        assert {key for _, _, dimension, key, _, _ in kept if dimension == "month"} == {"2024-03", "2024-04"}
        assert {dimension for _, _, dimension, _, _, _ in kept} == set(BREAKDOWNS)
        assert sum(amount for scope, _, dimension, _, _, amount in kept if (scope, dimension) == ("", "channel")) > 0


def breakdown_rows():
    return {(r.scope, r.year, r.dimension, r.key, r.record_count, r.amount)
            for r in db.session.scalars(db.select(RecordBreakdown))}


def test_waiting_gives_each_queue_its_count_and_oldest_record(app, tree, monkeypatch):
    """Each market's or supermarket's first review and each city's review, with when the oldest
    record arrived and the days since (asked one queue per statement here, as if there were more
    queues than one statement holds)."""
    monkeypatch.setattr(dashboard, "QUEUES_PER_STATEMENT", 1)
    oldest = datetime(2024, 5, 1, 2, 0)  # 10:00 in China
    with app.app_context():
        for filer, at in (("gz_merchant", oldest), ("gz_enterprise", oldest), ("sz_store", datetime(2024, 5, 2)),
                          ("gz_merchant", datetime(2024, 5, 3)), ("gz_ecommerce", datetime(2024, 5, 4))):
            account = db.session.get(Account, getattr(tree, filer).id)
            record = file_record(account, app.instance_path, submit=False)
            workflow.submit(account, record, amount_threshold=Decimal("500000"), now=at)
        db.session.commit()
        now = datetime(2024, 5, 11, 2, 0)
        rows = {(w.level, w.where): (w.count, w.oldest_since, w.days) for w in dashboard.waiting(now=now)}
        assert rows == {("市场/商超初审", "广州批发市场"): (2, oldest, 10),
                        ("市场/商超初审", "深圳连锁商超"): (1, datetime(2024, 5, 2), 9),
                        ("市级审核", "广州市"): (2, oldest, 10)}
        shenzhen = [(w.where, w.count) for w in dashboard.waiting("440300", now=now)]
        assert shenzhen == [("深圳连锁商超", 1)]
