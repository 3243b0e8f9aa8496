"""A tamper-evident audit trail: each row's position and keyed hash (HMAC-SM3) over its content
and the previous row's hash; the anchors archives leave; on PostgreSQL, triggers that refuse
UPDATE and DELETE of audit rows but for the archive's removal of rows older than 180 days.

The rows already written are chained here, in id order, under AUDIT_HMAC_KEY of the app that
runs the migration (portal/audit_chain.py holds the canonical form).

Revision ID: 0008a
Revises: 0007
Create Date: 2026-11-30 11:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0008a'
down_revision = '0007'
branch_labels = None
depends_on = None

GUARD = """
CREATE OR REPLACE FUNCTION audit_event_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- the archive command (portal/audit_chain.py) sets this flag for its own transaction,
    -- and even then nothing younger than the legal six months goes
    IF TG_OP = 'DELETE'
       AND current_setting('portal.audit_archive', true) = 'on'
       AND OLD.at < (now() AT TIME ZONE 'UTC') - interval '180 days' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_event is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE OR REPLACE FUNCTION audit_anchor_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_anchor is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_event
    FOR EACH ROW EXECUTE FUNCTION audit_event_guard();
CREATE TRIGGER audit_anchor_append_only BEFORE UPDATE OR DELETE ON audit_anchor
    FOR EACH ROW EXECUTE FUNCTION audit_anchor_guard();
"""


def _key():
    from flask import current_app

    return current_app.config["AUDIT_HMAC_KEY"]


def upgrade():
    with op.batch_alter_table('audit_event') as batch:
        batch.add_column(sa.Column('seq', sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column('chain_hash', sa.String(length=64), nullable=True))
        batch.create_unique_constraint('uq_audit_event_seq', ['seq'])
    op.create_table(
        'audit_anchor',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('seq', sa.BigInteger(), nullable=False),
        sa.Column('chain_hash', sa.String(length=64), nullable=False),
        sa.Column('rows', sa.Integer(), nullable=False),
        sa.Column('archive', sa.String(length=200), nullable=False),
        sa.Column('signature', sa.String(length=64), nullable=False),
        sa.Column('mac', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('id', name='pk_audit_anchor'),
    )
    _chain_existing_rows()
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(GUARD)


def _chain_existing_rows():
    from portal.audit_chain import FIELDS, GENESIS, entry_hash, key_bytes

    events = sa.table('audit_event', sa.column('id', sa.Integer), sa.column('at', sa.DateTime),
                      sa.column('account_id', sa.Integer), sa.column('unit_id', sa.Integer),
                      sa.column('action', sa.String), sa.column('object_ref', sa.String),
                      sa.column('result', sa.String), sa.column('ip', sa.String), sa.column('detail', sa.Text),
                      sa.column('seq', sa.BigInteger), sa.column('chain_hash', sa.String))
    bind = op.get_bind()
    key = key_bytes(_key())
    rows = bind.execute(sa.select(events.c.id, *(events.c[name] for name in FIELDS if name != 'seq'))
                        .order_by(events.c.id)).all()
    prev = GENESIS
    for seq, row in enumerate(rows, start=1):
        values = dict(row._mapping, seq=seq)
        values['result'] = values['result'] or 'ok'
        prev = entry_hash(key, _Row(values), prev)
        bind.execute(events.update().where(events.c.id == row.id)
                     .values(seq=seq, chain_hash=prev, result=values['result']))


class _Row:
    def __init__(self, values):
        self.__dict__.update(values)


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("DROP TRIGGER IF EXISTS audit_anchor_append_only ON audit_anchor")
        op.execute("DROP TRIGGER IF EXISTS audit_event_append_only ON audit_event")
        op.execute("DROP FUNCTION IF EXISTS audit_anchor_guard()")
        op.execute("DROP FUNCTION IF EXISTS audit_event_guard()")
    op.drop_table('audit_anchor')
    with op.batch_alter_table('audit_event') as batch:
        batch.drop_constraint('uq_audit_event_seq', type_='unique')
        batch.drop_column('chain_hash')
        batch.drop_column('seq')
