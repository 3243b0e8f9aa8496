"""The newest migrations go down and up again cleanly, on SQLite and on a scratch PostgreSQL
database: an operator who rolls a release back gets the schema of the release before."""
from flask_migrate import downgrade, upgrade
from sqlalchemy import func, inspect, select

from portal import create_app
from portal.cli import apply_schema
from portal.demo import build_demo, build_demo_records
from portal.extensions import db
from portal.records.models import BREAKDOWNS, PurchaseRecord, QueueCounter, RecordBreakdown
from tests.test_migration_0010 import scratch_url  # noqa: F401 (fixture)

#: the last revision every newer branch starts from, and tables made after it
BASE = "0011"
NEWER_TABLES = {"fulfilment_import", "fulfilment_line", "reminder", "staged_upload", "unit_contacts",
                "record_breakdown"}


def tables(app):
    with app.app_context():
        return set(inspect(db.engine).get_table_names())


def test_the_newest_migrations_downgrade_and_upgrade_again(scratch_url, tmp_path):  # noqa: F811
    app = create_app({"SQLALCHEMY_DATABASE_URI": scratch_url, "PORTAL_INSTANCE": str(tmp_path / "instance")})
    directory = app.extensions["migrate"].directory
    with app.app_context():
        upgrade(directory=directory, revision="heads")
    assert NEWER_TABLES <= tables(app)
    with app.app_context():
        downgrade(directory=directory, revision=BASE)
    assert not NEWER_TABLES & tables(app)
    with app.app_context():
        upgrade(directory=directory, revision="heads")
        db.engine.dispose()
    assert NEWER_TABLES <= tables(app)


def test_the_summaries_are_filled_from_the_records_already_there(scratch_url, tmp_path):  # noqa: F811
    """A province upgrading with records on file: each filing unit's home page shows its records
    by status from the first visit (migration 0014 counts them), and the totals pages and
    dashboards their breakdowns (0016 adds them up as the approving workflow does)."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": scratch_url, "PORTAL_INSTANCE": str(tmp_path / "instance")})
    directory = app.extensions["migrate"].directory
    with app.app_context():
        apply_schema()
        build_demo()
        build_demo_records(app.instance_path)
        db.session.commit()
        live = {f"unit:{unit_id}:{status}": count for unit_id, status, count in db.session.execute(
            select(PurchaseRecord.unit_id, PurchaseRecord.status, func.count()).group_by(
                PurchaseRecord.unit_id, PurchaseRecord.status))}
        assert len(live) >= 5
        assert unit_counters() == live  # kept by each transition of the demo's records
        kept = breakdown_rows()
        assert {dimension for _, _, dimension, _, _, _ in kept} == set(BREAKDOWNS)
        db.session.remove()
        downgrade(directory=directory, revision="0013")
        assert unit_counters() == {}
        upgrade(directory=directory, revision="heads")
        assert unit_counters() == live
        assert breakdown_rows() == kept
        db.session.remove()
        db.engine.dispose()


def unit_counters():
    """The unit status counters above zero (a counter a unit's records all left stays, at 0)."""
    return dict(db.session.execute(select(QueueCounter.key, QueueCounter.count)
                                   .where(QueueCounter.key.startswith("unit:"), QueueCounter.count > 0)).all())


def breakdown_rows():
    return {(r.scope, r.year, r.dimension, r.key, r.record_count, r.amount)
            for r in db.session.scalars(select(RecordBreakdown))}
