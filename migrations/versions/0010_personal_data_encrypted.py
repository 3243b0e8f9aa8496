"""Mobile numbers and contact names encrypted at rest (SM4), found by keyed SM3 blind indexes

Accounts keep the number and the name as SM4-GCM tokens (portal/crypto.py, keys from DATA_KEYS,
never in the database), beside the number's blind index (unique: one account per number), its
masked form for lists and the name's blind index for a search by full name. The contacts of a
reservation form are encrypted too. SMS codes and wrong tries keep the number's blind index in
place of the number; the codes in flight are dropped (whoever was logging in asks for a new one).

So are the figures a confirmation sheet printed (they hold the contacts), kept for its
verification page.

The 11-digit CHECK of 0005 goes, since the column now holds tokens: the application normalises
every number before it is stored, and the unique blind index keeps one account per number.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 13:00:00

"""
from alembic import op
import sqlalchemy as sa
from flask import current_app

from portal import crypto

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

#: (table, column, encryption context) of every encrypted column
ENCRYPTED = (
    ("account", "phone", "account.phone"),
    ("account", "name", "account.name"),
    ("reservation", "contact_name", "reservation.contact_name"),
    ("reservation", "contact_mobile", "reservation.contact_mobile"),
    ("reservation", "union_contact_name", "reservation.union_contact_name"),
    ("reservation", "union_contact_mobile", "reservation.union_contact_mobile"),
    ("confirmation_sheet", "printed_values", "confirmation_sheet.printed_values"),
)
PHONE_PURPOSE, NAME_PURPOSE = "mobile", "contact-name"  # as portal/personal_data.py
OLD_LENGTHS = {"phone": 11, "name": 40, "contact_name": 40, "contact_mobile": 11,
               "union_contact_name": 40, "union_contact_mobile": 11}


def _masked(phone):
    return f"{phone[:3]}****{phone[-4:]}"


def _normal_name(name):
    import unicodedata

    return "".join(unicodedata.normalize("NFKC", name).split())


def _rewrite(bind, table, columns, change, batch=1000):
    """Apply change(column, value) to every non-null value of the columns, a thousand rows at a
    time (a large installation's sheets are not read into memory at once)."""
    selected, after = ", ".join(columns), 0
    while True:
        rows = bind.execute(sa.text(f"SELECT id, {selected} FROM {table} WHERE id > :after ORDER BY id LIMIT :n"),
                            {"after": after, "n": batch}).mappings().all()
        if not rows:
            return
        for row in rows:
            values = {column: change(column, row[column]) for column in columns if row[column] is not None}
            if values:
                assignments = ", ".join(f"{column} = :{column}" for column in values)
                bind.execute(sa.text(f"UPDATE {table} SET {assignments} WHERE id = :id"), {**values, "id": row["id"]})
        after = rows[-1]["id"]


def upgrade():
    bind = op.get_bind()
    keys = crypto.parse_keys(current_app.config["DATA_KEYS"])
    contexts = {(table, column): context for table, column, context in ENCRYPTED}

    with op.batch_alter_table('account', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_account_phone_digits'), type_='check')
        batch_op.drop_constraint(op.f('uq_account_phone'), type_='unique')
        batch_op.alter_column('phone', type_=sa.String(length=255), existing_nullable=False)
        batch_op.alter_column('name', type_=sa.String(length=255), existing_nullable=False)
        batch_op.add_column(sa.Column('phone_key', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('phone_masked', sa.String(length=11), nullable=True))
        batch_op.add_column(sa.Column('name_key', sa.String(length=64), nullable=True))
    for row in bind.execute(sa.text("SELECT id, phone, name FROM account")).all():
        bind.execute(sa.text(
            "UPDATE account SET phone_key = :phone_key, phone_masked = :masked, name_key = :name_key "
            "WHERE id = :id"),
            {"id": row.id, "masked": _masked(row.phone),
             "phone_key": crypto.keyed_sm3(row.phone, PHONE_PURPOSE, keys=keys),
             "name_key": crypto.keyed_sm3(_normal_name(row.name), NAME_PURPOSE, keys=keys)})
    _rewrite(bind, "account", ["phone", "name"],
             lambda column, value: crypto.encrypt(value, context=contexts["account", column], keys=keys))
    with op.batch_alter_table('account', schema=None) as batch_op:
        batch_op.alter_column('phone_key', existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column('phone_masked', existing_type=sa.String(length=11), nullable=False)
        batch_op.alter_column('name_key', existing_type=sa.String(length=64), nullable=False)
        batch_op.create_unique_constraint(op.f('uq_account_phone_key'), ['phone_key'])
        batch_op.create_index(op.f('ix_account_phone_masked'), ['phone_masked'], unique=False)
        batch_op.create_index(op.f('ix_account_name_key'), ['name_key'], unique=False)

    reservation_columns = [column for table, column, _ in ENCRYPTED if table == "reservation"]
    with op.batch_alter_table('reservation', schema=None) as batch_op:
        for column in reservation_columns:
            batch_op.alter_column(column, type_=sa.String(length=255), existing_nullable=True)
    _rewrite(bind, "reservation", reservation_columns,
             lambda column, value: crypto.encrypt(value, context=contexts["reservation", column], keys=keys))

    _rewrite(bind, "confirmation_sheet", ["printed_values"],
             lambda column, value: crypto.encrypt(value, context=contexts["confirmation_sheet", column], keys=keys))

    # Codes live minutes and wrong tries an hour: rather than carry numbers over, start afresh.
    op.execute("DELETE FROM code_failure")
    op.execute("DELETE FROM sms_code")
    with op.batch_alter_table('code_failure', schema=None) as batch_op:
        batch_op.drop_index(op.f('ix_code_failure_phone_ip_at'))
        batch_op.alter_column('phone', new_column_name='phone_key', type_=sa.String(length=64),
                              existing_nullable=False)
    op.create_index(op.f('ix_code_failure_phone_key_ip_at'), 'code_failure', ['phone_key', 'ip', 'created_at'], unique=False)
    with op.batch_alter_table('sms_code', schema=None) as batch_op:
        batch_op.drop_index(op.f('ix_sms_code_phone'))
        batch_op.alter_column('phone', new_column_name='phone_key', type_=sa.String(length=64),
                              existing_nullable=False)
    op.create_index(op.f('ix_sms_code_phone_key'), 'sms_code', ['phone_key'], unique=False)


def downgrade():
    bind = op.get_bind()
    keys = crypto.parse_keys(current_app.config["DATA_KEYS"])
    contexts = {(table, column): context for table, column, context in ENCRYPTED}
    op.execute("DELETE FROM code_failure")
    op.execute("DELETE FROM sms_code")
    with op.batch_alter_table('sms_code', schema=None) as batch_op:
        batch_op.drop_index(op.f('ix_sms_code_phone_key'))
        batch_op.alter_column('phone_key', new_column_name='phone', type_=sa.String(length=11),
                              existing_nullable=False)
    op.create_index(op.f('ix_sms_code_phone'), 'sms_code', ['phone'], unique=False)
    with op.batch_alter_table('code_failure', schema=None) as batch_op:
        batch_op.drop_index(op.f('ix_code_failure_phone_key_ip_at'))
        batch_op.alter_column('phone_key', new_column_name='phone', type_=sa.String(length=11),
                              existing_nullable=False)
    op.create_index(op.f('ix_code_failure_phone_ip_at'), 'code_failure', ['phone', 'ip', 'created_at'], unique=False)

    _rewrite(bind, "confirmation_sheet", ["printed_values"],
             lambda column, value: crypto.decrypt(value, context=contexts["confirmation_sheet", column], keys=keys))
    for table in ("account", "reservation"):
        columns = [column for t, column, _ in ENCRYPTED if t == table]
        _rewrite(bind, table, columns,
                 lambda column, value, table=table: crypto.decrypt(value, context=contexts[table, column], keys=keys))
        with op.batch_alter_table(table, schema=None) as batch_op:
            if table == "account":
                batch_op.drop_index(op.f('ix_account_name_key'))
                batch_op.drop_index(op.f('ix_account_phone_masked'))
                batch_op.drop_constraint(op.f('uq_account_phone_key'), type_='unique')
                batch_op.drop_column('name_key')
                batch_op.drop_column('phone_masked')
                batch_op.drop_column('phone_key')
            for column in columns:
                batch_op.alter_column(column, type_=sa.String(length=OLD_LENGTHS[column]),
                                      existing_nullable=table != "account")
            if table == "account":
                batch_op.create_unique_constraint(op.f('uq_account_phone'), ['phone'])
                batch_op.create_check_constraint(op.f('ck_account_phone_digits'), sa.text(
                    "phone ~ '^1[0123456789]{10}$'" if bind.dialect.name == "postgresql"
                    else "phone GLOB '1" + "[0123456789]" * 10 + "'"))
