"""reserved share: year policy, forms, batches, events, confirmation sheets, unit changes

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 21:09:34.394619

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('reservation_batch',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('head_unit_id', sa.Integer(), nullable=False),
    sa.Column('finance_id', sa.Integer(), nullable=False),
    sa.Column('submitted_at', sa.DateTime(), nullable=False),
    sa.Column('submitted_by_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['finance_id'], ['unit.id'], name=op.f('fk_reservation_batch_finance_id_unit')),
    sa.ForeignKeyConstraint(['head_unit_id'], ['unit.id'], name=op.f('fk_reservation_batch_head_unit_id_unit')),
    sa.ForeignKeyConstraint(['submitted_by_id'], ['account.id'], name=op.f('fk_reservation_batch_submitted_by_id_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reservation_batch'))
    )
    op.create_table('unit_change',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('old_name', sa.String(length=100), nullable=False),
    sa.Column('new_name', sa.String(length=100), nullable=True),
    sa.Column('merged_into_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.String(length=200), nullable=True),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('by_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['by_id'], ['account.id'], name=op.f('fk_unit_change_by_id_account')),
    sa.ForeignKeyConstraint(['merged_into_id'], ['unit.id'], name=op.f('fk_unit_change_merged_into_id_unit')),
    sa.ForeignKeyConstraint(['unit_id'], ['unit.id'], name=op.f('fk_unit_change_unit_id_unit')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_unit_change'))
    )
    with op.batch_alter_table('unit_change', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_unit_change_unit_id'), ['unit_id'], unique=False)

    op.create_table('year_policy',
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('min_ratio', sa.Numeric(precision=5, scale=2), nullable=False),
    sa.Column('encouraged_ratio', sa.Numeric(precision=5, scale=2), nullable=False),
    sa.Column('national_floor', sa.Numeric(precision=5, scale=2), nullable=False),
    sa.Column('filing_deadline', sa.Date(), nullable=False),
    sa.Column('extended_until', sa.Date(), nullable=True),
    sa.Column('superior_deadline', sa.Date(), nullable=True),
    sa.Column('finance_deadline', sa.Date(), nullable=True),
    sa.Column('flag_below_last_year', sa.Boolean(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['updated_by_id'], ['account.id'], name=op.f('fk_year_policy_updated_by_id_account')),
    sa.PrimaryKeyConstraint('year', name=op.f('pk_year_policy'))
    )
    op.create_table('reservation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('canteen_type', sa.String(length=12), nullable=True),
    sa.Column('shared_filler', sa.String(length=6), nullable=True),
    sa.Column('remark', sa.String(length=50), nullable=True),
    sa.Column('canteen_total', sa.Numeric(precision=16, scale=2), nullable=True),
    sa.Column('ratio', sa.Numeric(precision=5, scale=2), nullable=True),
    sa.Column('reserved_amount', sa.Numeric(precision=16, scale=2), nullable=True),
    sa.Column('union_need', sa.Boolean(), nullable=True),
    sa.Column('union_remark', sa.String(length=50), nullable=True),
    sa.Column('union_total', sa.Numeric(precision=16, scale=2), nullable=True),
    sa.Column('union_ratio', sa.Numeric(precision=5, scale=2), nullable=True),
    sa.Column('union_expected', sa.Numeric(precision=16, scale=2), nullable=True),
    sa.Column('contact_name', sa.String(length=40), nullable=True),
    sa.Column('contact_mobile', sa.String(length=11), nullable=True),
    sa.Column('contact_landline', sa.String(length=20), nullable=True),
    sa.Column('union_contact_name', sa.String(length=40), nullable=True),
    sa.Column('union_contact_mobile', sa.String(length=11), nullable=True),
    sa.Column('union_contact_landline', sa.String(length=20), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('superior_id', sa.Integer(), nullable=True),
    sa.Column('finance_id', sa.Integer(), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=True),
    sa.Column('attested_at', sa.DateTime(), nullable=True),
    sa.Column('submitted_at', sa.DateTime(), nullable=True),
    sa.Column('confirmed_at', sa.DateTime(), nullable=True),
    sa.Column('confirmed_by_id', sa.Integer(), nullable=True),
    sa.Column('finalized_at', sa.DateTime(), nullable=True),
    sa.Column('finalized_by_id', sa.Integer(), nullable=True),
    sa.Column('return_reason', sa.String(length=200), nullable=True),
    sa.Column('returned_values', sa.Text(), nullable=True),
    sa.Column('flags', sa.String(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['reservation_batch.id'], name=op.f('fk_reservation_batch_id_reservation_batch')),
    sa.ForeignKeyConstraint(['confirmed_by_id'], ['account.id'], name=op.f('fk_reservation_confirmed_by_id_account')),
    sa.ForeignKeyConstraint(['finalized_by_id'], ['account.id'], name=op.f('fk_reservation_finalized_by_id_account')),
    sa.ForeignKeyConstraint(['finance_id'], ['unit.id'], name=op.f('fk_reservation_finance_id_unit')),
    sa.ForeignKeyConstraint(['superior_id'], ['unit.id'], name=op.f('fk_reservation_superior_id_unit')),
    sa.ForeignKeyConstraint(['unit_id'], ['unit.id'], name=op.f('fk_reservation_unit_id_unit')),
    sa.ForeignKeyConstraint(['year'], ['year_policy.year'], name=op.f('fk_reservation_year_year_policy')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reservation')),
    sa.UniqueConstraint('unit_id', 'year', name='uq_reservation_unit_year')
    )
    with op.batch_alter_table('reservation', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reservation_finance_id'), ['finance_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_reservation_superior_id'), ['superior_id'], unique=False)
        batch_op.create_index('ix_reservation_year_status', ['year', 'status'], unique=False)

    op.create_table('confirmation_sheet',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('reservation_id', sa.Integer(), nullable=False),
    sa.Column('stage', sa.String(length=10), nullable=False),
    sa.Column('verification_code', sa.String(length=16), nullable=False),
    sa.Column('stored_name', sa.String(length=80), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=False),
    sa.Column('printed_values', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['account.id'], name=op.f('fk_confirmation_sheet_created_by_id_account')),
    sa.ForeignKeyConstraint(['reservation_id'], ['reservation.id'], name=op.f('fk_confirmation_sheet_reservation_id_reservation')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_confirmation_sheet')),
    sa.UniqueConstraint('stored_name', name=op.f('uq_confirmation_sheet_stored_name')),
    sa.UniqueConstraint('verification_code', name=op.f('uq_confirmation_sheet_verification_code'))
    )
    with op.batch_alter_table('confirmation_sheet', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_confirmation_sheet_reservation_id'), ['reservation_id'], unique=False)

    op.create_table('reservation_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('reservation_id', sa.Integer(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=False),
    sa.Column('actor_unit_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('from_status', sa.String(length=10), nullable=False),
    sa.Column('to_status', sa.String(length=10), nullable=False),
    sa.Column('comment', sa.String(length=200), nullable=True),
    sa.ForeignKeyConstraint(['actor_id'], ['account.id'], name=op.f('fk_reservation_event_actor_id_account')),
    sa.ForeignKeyConstraint(['actor_unit_id'], ['unit.id'], name=op.f('fk_reservation_event_actor_unit_id_unit')),
    sa.ForeignKeyConstraint(['reservation_id'], ['reservation.id'], name=op.f('fk_reservation_event_reservation_id_reservation')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reservation_event'))
    )
    with op.batch_alter_table('reservation_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reservation_event_reservation_id'), ['reservation_id'], unique=False)



def downgrade():
    with op.batch_alter_table('reservation_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reservation_event_reservation_id'))

    op.drop_table('reservation_event')
    with op.batch_alter_table('confirmation_sheet', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_confirmation_sheet_reservation_id'))

    op.drop_table('confirmation_sheet')
    with op.batch_alter_table('reservation', schema=None) as batch_op:
        batch_op.drop_index('ix_reservation_year_status')
        batch_op.drop_index(batch_op.f('ix_reservation_superior_id'))
        batch_op.drop_index(batch_op.f('ix_reservation_finance_id'))

    op.drop_table('reservation')
    op.drop_table('year_policy')
    with op.batch_alter_table('unit_change', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_unit_change_unit_id'))

    op.drop_table('unit_change')
    op.drop_table('reservation_batch')
