"""Money, ratios and quantities are exact on both databases (portal/dbtypes.py): the largest
amount the form allows comes back to the fen, totals add up to the fen, and migration 0004
turns the doubles an older SQLite database holds into exact values."""
from decimal import Decimal

import pytest
from flask_migrate import upgrade
from sqlalchemy import func, select, text

from portal import create_app
from portal.accounts.models import Account
from portal.extensions import db
from portal.records import entry, service, workflow
from portal.records.models import PurchaseRecord, RecordTotal
from portal.records.totals import TotalFilters, province_view
from tests.factories import file_record
from tests.records_helpers import record_form

LARGEST = entry.MAX_AMOUNT  # 99999999999999.99: a double cannot hold its last fen


def test_the_largest_amount_comes_back_to_the_fen(app, tree, ctx):
    merchant = db.session.get(Account, tree.gz_merchant.id)
    record = service.create_draft(merchant, record_form(amount=str(LARGEST), quantity="0.001"))
    db.session.commit()
    record_id = record.id
    db.session.expunge_all()
    stored = db.session.get(PurchaseRecord, record_id)
    assert stored.amount == LARGEST and str(stored.amount) == "99999999999999.99"
    assert stored.quantity == Decimal("0.001")
    matching = select(PurchaseRecord.id).where(PurchaseRecord.amount >= LARGEST)
    assert db.session.scalars(matching).all() == [record_id]


def test_totals_add_up_to_the_fen(app, tree, ctx):
    enterprise = db.session.get(Account, tree.gz_enterprise.id)
    office = db.session.get(Account, tree.gz_office.id)
    amounts = [Decimal("0.10")] * 7 + [Decimal("12345678901234.56"), Decimal("0.01")]
    for amount in amounts:
        record = file_record(enterprise, app.instance_path, amount=str(amount))
        workflow.approve(office, record, expected_version=record.version)
    db.session.commit()
    expected = sum(amounts, Decimal("0"))
    assert db.session.scalar(select(func.sum(RecordTotal.amount))) == expected == Decimal("12345678901235.27")
    assert province_view(TotalFilters())["total"] == (len(amounts), expected)


def test_migration_0004_makes_old_sqlite_doubles_exact(tmp_path):
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'old.sqlite3'}",
                      "PORTAL_INSTANCE": str(tmp_path / "instance")})
    directory = app.extensions["migrate"].directory
    with app.app_context():
        upgrade(directory=directory, revision="0003")
        db.session.execute(text(
            "INSERT INTO year_policy (year, min_ratio, encouraged_ratio, national_floor, filing_deadline, "
            "superior_deadline, finance_deadline, flag_below_last_year, updated_at) "
            "VALUES (2024, 30.0, 35.5, 10.01, '2024-02-20', '2024-03-01', '2024-03-10', 1, '2024-01-01 00:00:00')"))
        db.session.commit()
        upgrade(directory=directory)
        raw = db.session.execute(text("SELECT min_ratio, encouraged_ratio, national_floor FROM year_policy")).one()
        assert tuple(raw) == (3000, 3550, 1001)
        from portal.reservations.models import YearPolicy

        policy = db.session.get(YearPolicy, 2024)
        assert (policy.min_ratio, policy.encouraged_ratio, policy.national_floor) == (
            Decimal("30.00"), Decimal("35.50"), Decimal("10.01"))
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(autouse=True)
def _only_meaningful_where_it_applies(request, database_url):
    if request.node.name.startswith("test_migration") and not database_url.startswith("sqlite"):
        pytest.skip("migration 0004 changes SQLite databases only")
