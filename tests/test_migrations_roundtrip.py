"""The newest migrations go down and up again cleanly, on SQLite and on a scratch PostgreSQL
database: an operator who rolls a release back gets the schema of the release before."""
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from portal import create_app
from portal.extensions import db
from tests.test_migration_0010 import scratch_url  # noqa: F401 (fixture)

#: the last revision every newer branch starts from, and tables made after it
BASE = "0011"
NEWER_TABLES = {"fulfilment_import", "fulfilment_line", "reminder", "staged_upload", "unit_contacts"}


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
