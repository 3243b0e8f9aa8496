"""Budget units' current contacts (个人中心), kept apart from the yearly forms

A unit changes its filing and union contacts at any time from its personal page; step 2 of the
yearly form starts from them and brings them up to date. Names and mobiles are SM4-encrypted
under contexts of their own. Each unit starts with the contacts of its newest form that has
them; the downgrade drops the table (the forms keep their own contacts).

Revision ID: 0012_unit_contacts
Revises: 0011
Create Date: 2026-12-05 12:00:00

"""
from alembic import op
import sqlalchemy as sa
from flask import current_app

from portal import crypto

revision = '0012_unit_contacts'
down_revision = '0011'
branch_labels = None
depends_on = None

FIELDS = ("contact_name", "contact_mobile", "contact_landline",
          "union_contact_name", "union_contact_mobile", "union_contact_landline")
ENCRYPTED = ("contact_name", "contact_mobile", "union_contact_name", "union_contact_mobile")
BATCH = 1000


def upgrade():
    op.create_table(
        'unit_contacts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('unit_id', sa.Integer(), nullable=False),
        sa.Column('contact_name', sa.String(length=255), nullable=True),
        sa.Column('contact_mobile', sa.String(length=255), nullable=True),
        sa.Column('contact_landline', sa.String(length=20), nullable=True),
        sa.Column('union_contact_name', sa.String(length=255), nullable=True),
        sa.Column('union_contact_mobile', sa.String(length=255), nullable=True),
        sa.Column('union_contact_landline', sa.String(length=20), nullable=True),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.Column('updated_by_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['unit_id'], ['unit.id'], name=op.f('fk_unit_contacts_unit_id_unit')),
        sa.ForeignKeyConstraint(['updated_by_id'], ['account.id'],
                                name=op.f('fk_unit_contacts_updated_by_id_account')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_unit_contacts')),
        sa.UniqueConstraint('unit_id', name=op.f('uq_unit_contacts_unit_id')),
    )
    _seed_from_newest_forms(op.get_bind())


def _seed_from_newest_forms(bind):
    """Each unit's contacts from its newest form that has a filing mobile, re-encrypted under the
    new columns' contexts, a thousand forms at a time."""
    keys = crypto.parse_keys(current_app.config["DATA_KEYS"])
    columns = ", ".join(f"r.{field}" for field in FIELDS)
    newest = sa.text(
        f"SELECT r.id, r.unit_id, r.updated_at, {columns} FROM reservation r "
        "WHERE r.contact_mobile IS NOT NULL AND r.id > :after AND r.year = ("
        "  SELECT max(n.year) FROM reservation n WHERE n.unit_id = r.unit_id AND n.contact_mobile IS NOT NULL) "
        "ORDER BY r.id LIMIT :n")
    insert = sa.text(
        f"INSERT INTO unit_contacts (unit_id, updated_at, {', '.join(FIELDS)}) "
        f"VALUES (:unit_id, :updated_at, {', '.join(':' + field for field in FIELDS)})")
    after = 0
    while True:
        rows = bind.execute(newest, {"after": after, "n": BATCH}).mappings().all()
        if not rows:
            return
        for row in rows:
            values = {field: row[field] for field in FIELDS}
            for field in ENCRYPTED:
                if values[field] is not None:
                    text = crypto.decrypt(values[field], context=f"reservation.{field}", keys=keys)
                    values[field] = crypto.encrypt(text, context=f"unit_contacts.{field}", keys=keys)
            bind.execute(insert, {"unit_id": row["unit_id"], "updated_at": row["updated_at"], **values})
        after = rows[-1]["id"]


def downgrade():
    op.drop_table('unit_contacts')
