"""Migration 0012_unit_contacts gives each budget unit the contacts of its newest form that has
them, encrypted under the new columns' own contexts, and its downgrade drops the table; on
SQLite and on a scratch PostgreSQL database."""
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, select, text

from portal import create_app, crypto
from portal.extensions import db
from portal.reservations.models import UnitContacts
from tests.test_migration_0010 import scratch_url  # noqa: F401  (fixture)

UNITS = """
INSERT INTO unit (id, name, kind, active, created_at) VALUES (1, '省财政厅', 'finance', true, '2026-01-01 00:00:00');
INSERT INTO unit (id, name, kind, active, created_at) VALUES (2, '省教育厅', 'budget_unit', true, '2026-01-01 00:00:00');
INSERT INTO unit (id, name, kind, active, created_at) VALUES (3, '省实验中学', 'budget_unit', true, '2026-01-01 00:00:00');
INSERT INTO unit (id, name, kind, active, created_at) VALUES (4, '省统计局', 'budget_unit', true, '2026-01-01 00:00:00');
"""


def _policy(year):
    db.session.execute(text(
        "INSERT INTO year_policy (year, min_ratio, encouraged_ratio, national_floor, filing_deadline, "
        "flag_below_last_year, updated_at) VALUES (:year, 30, 15, 10, :deadline, true, '2026-01-01 00:00:00')"),
        {"year": year, "deadline": f"{year}-02-20"})


def _form(form_id, unit_id, year, updated_at, **contacts):
    """A form as 0011 keeps it: names and mobiles SM4 tokens under the reservation's contexts."""
    values = {field: None for field in ("contact_name", "contact_mobile", "contact_landline", "union_contact_name",
                                        "union_contact_mobile", "union_contact_landline")}
    values.update(contacts)
    for field in ("contact_name", "contact_mobile", "union_contact_name", "union_contact_mobile"):
        if values[field] is not None:
            values[field] = crypto.encrypt(values[field], context=f"reservation.{field}")
    db.session.execute(text(
        "INSERT INTO reservation (id, unit_id, finance_id, year, status, version, flags, created_at, updated_at, "
        "contact_name, contact_mobile, contact_landline, union_contact_name, union_contact_mobile, "
        "union_contact_landline) VALUES (:id, :unit_id, 1, :year, 'submitted', 1, '', :at, :at, :contact_name, "
        ":contact_mobile, :contact_landline, :union_contact_name, :union_contact_mobile, :union_contact_landline)"),
        {"id": form_id, "unit_id": unit_id, "year": year, "at": updated_at, **values})


def test_each_unit_starts_with_its_newest_forms_contacts_and_the_downgrade_drops_them(scratch_url, tmp_path):
    app = create_app({"SQLALCHEMY_DATABASE_URI": scratch_url, "PORTAL_INSTANCE": str(tmp_path / "instance")})
    directory = app.extensions["migrate"].directory
    with app.app_context():
        upgrade(directory=directory, revision="0011")
        for statement in filter(str.strip, UNITS.split(";")):
            db.session.execute(text(statement))
        for year in (2025, 2026):
            _policy(year)
        # 省教育厅: two years; the newer one's contacts are its current ones.
        _form(1, 2, 2025, "2025-01-10 08:00:00", contact_name="旧联系人", contact_mobile="13900000001")
        _form(2, 2, 2026, "2026-01-12 09:30:00", contact_name="许文博", contact_mobile="13900000011",
              contact_landline="020-83133000", union_contact_name="王芳", union_contact_mobile="13987654321")
        # 省实验中学: its 2026 draft has no contacts yet; its 2025 form's are taken.
        _form(3, 3, 2025, "2025-01-20 10:00:00", contact_name="李晓明", contact_mobile="13912345678")
        _form(4, 3, 2026, "2026-01-21 10:00:00")
        # 省统计局 never filed: no contacts.
        db.session.commit()

        upgrade(directory=directory, revision="0012_unit_contacts")
        rows = {row.unit_id: row for row in db.session.scalars(select(UnitContacts))}
        assert set(rows) == {2, 3}
        head, school = rows[2], rows[3]
        assert (head.contact_name, head.contact_mobile, head.contact_landline) == ("许文博", "13900000011",
                                                                                  "020-83133000")
        assert (head.union_contact_name, head.union_contact_mobile, head.union_contact_landline) == (
            "王芳", "13987654321", None)
        assert (school.contact_name, school.contact_mobile, school.union_contact_name) == ("李晓明", "13912345678",
                                                                                          None)
        assert head.updated_by_id is None and str(head.updated_at).startswith("2026-01-12 09:30")
        raw = db.session.execute(text("SELECT contact_name, contact_mobile FROM unit_contacts")).all()
        assert all(value.startswith("sm4gcm.") for row in raw for value in row)
        db.session.remove()

        downgrade(directory=directory, revision="0011")
        assert "unit_contacts" not in inspect(db.engine).get_table_names()
        # the forms keep their own contacts
        assert db.session.scalar(text("SELECT count(*) FROM reservation WHERE contact_mobile IS NOT NULL")) == 3
        db.session.remove()

        # and up again: the same contacts
        upgrade(directory=directory, revision="0012_unit_contacts")
        assert db.session.scalar(select(UnitContacts.contact_name).where(UnitContacts.unit_id == 2)) == "许文博"
        db.session.remove()
        db.engine.dispose()
