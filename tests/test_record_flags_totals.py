"""Warning flags computed at submission, and the approved totals of the province view, checked
against sums computed directly from the approved records."""
import io
import itertools
from collections import defaultdict
from decimal import Decimal

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.records import service, vouchers, workflow
from portal.records.models import PriceStat, RecordTotal, ReportingPeriod
from portal.records.states import CHANNEL_LABELS
from portal.records.totals import TotalFilters, grand_total, province_view
from portal.reference.models import DictionaryEntry, GuangdongCity
from tests.factories import build_tree
from tests.records_helpers import PNG, record_form

THRESHOLD = Decimal("500000")
_unique = itertools.count()


@pytest.fixture
def t(app, ctx):
    made = build_tree()
    db.session.commit()
    made.root = vouchers.voucher_root(app.instance_path)
    return made


def entry(kind, name):
    return db.session.scalar(select(DictionaryEntry).where(DictionaryEntry.kind == kind, DictionaryEntry.name == name))


def submitted(t, account, content=None, **overrides):
    """A record filed and submitted by `account`, with a voucher of its own unless `content` is given."""
    record = service.create_draft(account, record_form(**overrides))
    content = content if content is not None else PNG + f"unique-{next(_unique)}".encode()
    vouchers.add_voucher(account, record, io.BytesIO(content), "发票.png", "invoice", root=t.root,
                         max_bytes=1024 * 1024)
    workflow.submit(account, record, expected_version=record.version, amount_threshold=THRESHOLD)
    return record


def approved(t, account, **overrides):
    """A record taken through every level to 审核通过."""
    record = submitted(t, account, **overrides)
    first = {t.gz_merchant.unit_id: t.gz_market, t.gz_store.unit_id: t.gz_supermarket,
             t.sz_merchant.unit_id: t.sz_market, t.sz_store.unit_id: t.sz_supermarket,
             t.listed_merchant.unit_id: t.listed_market}.get(account.unit_id)
    if first is not None:
        workflow.approve(first, record, expected_version=record.version)
    office = {"440100": t.gz_reviewer, "440300": t.sz_office, "440000": t.province_reviewer}[record.city_scope]
    workflow.approve(office, record, expected_version=record.version)
    assert record.status == "approved"
    return record


# ---- flags -------------------------------------------------------------------------------------

def test_duplicate_voucher_amount_and_region_flags(t):
    # The same voucher file (same bytes) on two records flags the second.
    first = submitted(t, t.gz_enterprise, content=PNG + b"same-invoice")
    second = submitted(t, t.sz_ecommerce, content=PNG + b"same-invoice")
    other = submitted(t, t.sz_enterprise, content=PNG + b"another-invoice")
    assert first.flag_codes == []
    assert second.flag_codes == ["dup_voucher"]
    assert other.flag_codes == []

    # An amount above the threshold.
    assert submitted(t, t.gz_enterprise, amount="500000.00").flag_codes == []
    assert submitted(t, t.gz_enterprise, amount="500000.01").flag_codes == ["amount"]
    assert submitted(t, t.gz_enterprise, amount="9999999").flag_codes == ["amount"]

    # A county outside the east-west pairing list (对口支援 counties of Kashgar and Nyingchi).
    kashgar = submitted(t, t.gz_enterprise, origin_province_code="650000", origin_city_code="653100",
                        origin_county_code="653101")
    assert kashgar.flag_codes == ["region"]
    nyingchi = submitted(t, t.gz_enterprise, origin_province_code="540000", origin_city_code="540400",
                         origin_county_code="540402")
    assert nyingchi.flag_codes == ["region"]
    assert submitted(t, t.gz_enterprise).flag_codes == []

    # Several at once.
    submitted(t, t.gz_enterprise, content=PNG + b"shared")
    record = submitted(t, t.gz_enterprise, content=PNG + b"shared", amount="600000", origin_province_code="650000",
                       origin_city_code="653100", origin_county_code="653101")
    assert set(record.flag_codes) == {"dup_voucher", "amount", "region"}


def test_an_unusual_unit_price_is_flagged_once_there_are_enough_approved_samples(t):
    for amount in ("7900", "8000", "8100", "7950"):
        approved(t, t.gz_enterprise, quantity="1", amount=amount)
    # Four samples are not enough to judge.
    assert submitted(t, t.gz_enterprise, quantity="10", amount="800").flag_codes == []
    approved(t, t.sz_enterprise, quantity="2", amount="16100")
    stat = db.session.get(PriceStat, (entry("category", "粮食").id, entry("measure_unit", "吨").id))
    assert stat.samples == 5

    assert submitted(t, t.gz_enterprise, quantity="10", amount="800").flag_codes == ["price"]  # 80元/吨
    assert submitted(t, t.gz_enterprise, quantity="1", amount="30000").flag_codes == ["price"]  # far above
    assert submitted(t, t.gz_enterprise, quantity="1", amount="9000").flag_codes == []
    # Another unit of measure, or another category, has no statistics yet.
    assert submitted(t, t.gz_enterprise, quantity="10", amount="800",
                     measure_unit_id=str(entry("measure_unit", "公斤").id)).flag_codes == []
    assert submitted(t, t.gz_enterprise, quantity="10", amount="800",
                     category_id=str(entry("category", "水果").id)).flag_codes == []
    # Records that were only submitted, never approved, did not enter the statistics.
    assert db.session.get(PriceStat, (entry("category", "粮食").id, entry("measure_unit", "吨").id)).samples == 5


# ---- totals ------------------------------------------------------------------------------------

LISTED_LABEL = "广东东西部扶贫协作交易市场（省级单列）"


def expected_view(records, keep=lambda record: True):
    """Every breakdown of the province view, summed straight from approved records."""
    cities = {c.code: c.name for c in db.session.scalars(select(GuangdongCity))}
    cities["440000"] = LISTED_LABEL
    tables = defaultdict(lambda: defaultdict(lambda: [0, Decimal("0")]))
    for record in records:
        if record.status != "approved" or not keep(record):
            continue
        county_label = f"{record.origin_province.name} / {record.origin_city.name} / {record.origin_county.name}"
        keys = {
            "by_city": cities[record.city_scope],
            "by_channel": CHANNEL_LABELS[record.channel],
            "by_province": record.origin_province.name,
            "by_county": county_label,
            "by_category": record.category.name,
            "by_period": record.period.name,
        }
        if record.origin_county.key_county:
            keys["key_counties"] = county_label
        keys["total"] = "total"
        for table, key in keys.items():
            tables[table][key][0] += 1
            tables[table][key][1] += record.amount
    return {table: {key: tuple(value) for key, value in rows.items()} for table, rows in tables.items()}


def actual_view(filters):
    view = province_view(filters)
    result = {}
    for table, rows in view.items():
        if table == "total":
            if rows[0]:
                result["total"] = {"total": (rows[0], rows[1])}
            continue
        labels = [label for label, _, _ in rows]
        assert len(labels) == len(set(labels)), (table, labels)
        amounts = [amount for _, _, amount in rows]
        if table != "key_counties":
            assert amounts == sorted(amounts, reverse=True), table
        if rows:
            result[table] = {label: (count, amount) for label, count, amount in rows}
    return result


@pytest.fixture
def world(t):
    periods = db.session.scalars(select(ReportingPeriod).order_by(ReportingPeriod.id)).all()
    assert len(periods) >= 2
    current, backfill = str(periods[0].id), str(periods[1].id)
    fruit, tea = str(entry("category", "水果").id), str(entry("category", "茶叶").id)
    guizhou = dict(origin_province_code="520000", origin_city_code="520500", origin_county_code="520525")  # key
    guizhou_other = dict(origin_province_code="520000", origin_city_code="520500", origin_county_code="520502")
    kashgar = dict(origin_province_code="650000", origin_city_code="653100", origin_county_code="653101")
    records = [
        approved(t, t.gz_enterprise, amount="1000.10"),
        approved(t, t.gz_enterprise, amount="2000.20", period_id=backfill, **guizhou),
        approved(t, t.gz_merchant, amount="3000.30", category_id=fruit, **guizhou_other),
        approved(t, t.gz_store, amount="400.40", category_id=tea, **kashgar),
        approved(t, t.gz_ecommerce, amount="5000.00", period_id=backfill, category_id=fruit),
        approved(t, t.sz_supermarket, amount="600.60", **guizhou),
        approved(t, t.sz_merchant, amount="7000.70", category_id=tea, period_id=backfill, **kashgar),
        approved(t, t.sz_enterprise, amount="800.80", category_id=fruit),
        approved(t, t.listed_merchant, amount="9000.90", **guizhou_other),
        approved(t, t.listed_market, amount="100.01", category_id=fruit, **kashgar),
        # Not approved: none of these may be counted.
        submitted(t, t.gz_enterprise, amount="111111.11"),
        submitted(t, t.gz_merchant, amount="222222.22"),
        submitted(t, t.listed_market, amount="333333.33"),
    ]
    returned = submitted(t, t.sz_enterprise, amount="444444.44")
    workflow.return_for_changes(t.sz_reviewer, returned, expected_version=returned.version, reason="退回")
    records.append(returned)
    records.append(service.create_draft(t.gz_enterprise, record_form(amount="555555.55")))
    db.session.commit()
    return dict(records=records, current=int(current), backfill=int(backfill), fruit=int(fruit), tea=int(tea))


def test_province_view_matches_the_approved_records(world, t):
    records = world["records"]
    expected = expected_view(records)
    assert actual_view(TotalFilters()) == expected
    view = province_view(TotalFilters())
    assert view["total"] == (10, Decimal("28904.01"))
    assert grand_total() == view["total"]  # the province office's home page
    by_city = {label: (count, amount) for label, count, amount in view["by_city"]}
    assert by_city[LISTED_LABEL] == (2, Decimal("9100.91"))
    assert by_city["广州市"] == (5, Decimal("11401.00"))
    assert by_city["深圳市"] == (3, Decimal("8402.10"))
    assert {label for label, _, _ in view["key_counties"]} == {
        "广西壮族自治区 / 河池市 / 罗城仫佬族自治县", "贵州省 / 毕节市 / 纳雍县"}
    # The totals table holds exactly the approved records, once each.
    assert sum(row.record_count for row in db.session.scalars(select(RecordTotal))) == 10

    # A later approval is added in the same transaction as the approval itself, and goes if it rolls back.
    pending = next(r for r in world["records"] if r.status == "submitted" and r.city_scope == "440100"
                   and r.unit_id == t.gz_enterprise.unit_id)
    before = province_view(TotalFilters())["total"]
    workflow.approve(t.gz_office, pending, expected_version=pending.version)
    # Visible to the transaction at once, and gone if it rolls back.
    assert province_view(TotalFilters())["total"] == (before[0] + 1, before[1] + pending.amount)
    db.session.rollback()
    assert province_view(TotalFilters())["total"] == before


def test_the_province_office_home_page_shows_the_province_total(world, app, login):
    client = app.test_client()
    login(client, "13700000002")  # the province office's reviewer
    page = client.get("/").get_data(as_text=True)
    assert "10 条，金额 28,904.01 元" in page


def test_filters_narrow_every_table(world):
    records = world["records"]
    cases = [
        (TotalFilters(period_id=world["backfill"]), lambda r: r.period_id == world["backfill"]),
        (TotalFilters(period_id=world["current"]), lambda r: r.period_id == world["current"]),
        (TotalFilters(city_scope="440300"), lambda r: r.city_scope == "440300"),
        (TotalFilters(city_scope="440000"), lambda r: r.city_scope == "440000"),
        (TotalFilters(channel="market"), lambda r: r.channel == "market"),
        (TotalFilters(channel="supermarket"), lambda r: r.channel == "supermarket"),
        (TotalFilters(category_id=world["fruit"]), lambda r: r.category_id == world["fruit"]),
        (TotalFilters(province_code="520000"), lambda r: r.origin_province_code == "520000"),
        (TotalFilters(province_code="650000"), lambda r: r.origin_province_code == "650000"),
        (TotalFilters(city_scope="440100", category_id=world["tea"]),
         lambda r: r.city_scope == "440100" and r.category_id == world["tea"]),
        (TotalFilters(city_scope="440200"), lambda r: False),
    ]
    full_count = expected_view(records)["total"]["total"][0]
    for filters, keep in cases:
        expected = expected_view(records, keep)
        # Every table shows exactly the filtered approved records...
        assert actual_view(filters) == expected, filters
        # ...and each case really is a narrower set than the whole.
        assert expected.get("total", {}).get("total", (0,))[0] < full_count, filters
    empty = province_view(TotalFilters(city_scope="440200"))
    assert empty["total"] == (0, Decimal("0"))
    assert all(empty[table] == [] for table in empty if table != "total")
