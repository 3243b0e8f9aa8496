"""purchase records, vouchers, review events, totals and counters

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 20:53:58.802534

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('queue_counter',
    sa.Column('key', sa.String(length=30), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_queue_counter'))
    )
    op.create_table('reporting_period',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('fill_type', sa.String(length=10), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('open', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reporting_period')),
    sa.UniqueConstraint('name', name=op.f('uq_reporting_period_name'))
    )
    op.create_table('price_stat',
    sa.Column('category_id', sa.Integer(), nullable=False),
    sa.Column('measure_unit_id', sa.Integer(), nullable=False),
    sa.Column('samples', sa.Integer(), nullable=False),
    sa.Column('sum_log', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['category_id'], ['dictionary_entry.id'], name=op.f('fk_price_stat_category_id_dictionary_entry')),
    sa.ForeignKeyConstraint(['measure_unit_id'], ['dictionary_entry.id'], name=op.f('fk_price_stat_measure_unit_id_dictionary_entry')),
    sa.PrimaryKeyConstraint('category_id', 'measure_unit_id', name=op.f('pk_price_stat'))
    )
    op.create_table('record_total',
    sa.Column('period_id', sa.Integer(), nullable=False),
    sa.Column('city_scope', sa.String(length=6), nullable=False),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('origin_county_code', sa.String(length=6), nullable=False),
    sa.Column('category_id', sa.Integer(), nullable=False),
    sa.Column('record_count', sa.Integer(), nullable=False),
    sa.Column('amount', sa.Numeric(precision=18, scale=2), nullable=False),
    sa.ForeignKeyConstraint(['category_id'], ['dictionary_entry.id'], name=op.f('fk_record_total_category_id_dictionary_entry')),
    sa.ForeignKeyConstraint(['origin_county_code'], ['region.code'], name=op.f('fk_record_total_origin_county_code_region')),
    sa.ForeignKeyConstraint(['period_id'], ['reporting_period.id'], name=op.f('fk_record_total_period_id_reporting_period')),
    sa.PrimaryKeyConstraint('period_id', 'city_scope', 'channel', 'origin_county_code', 'category_id', name=op.f('pk_record_total'))
    )
    for name in ("city_scope", "channel", "origin_county_code", "category_id"):
        op.create_index(f"ix_record_total_by_{name}", "record_total", [name, "record_count", "amount"])
    op.create_table('purchase_record',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('first_reviewer_id', sa.Integer(), nullable=True),
    sa.Column('city_scope', sa.String(length=6), nullable=False),
    sa.Column('period_id', sa.Integer(), nullable=True),
    sa.Column('direct_from_origin', sa.Boolean(), nullable=True),
    sa.Column('origin_province_code', sa.String(length=6), nullable=True),
    sa.Column('origin_city_code', sa.String(length=6), nullable=True),
    sa.Column('origin_county_code', sa.String(length=6), nullable=True),
    sa.Column('category_id', sa.Integer(), nullable=True),
    sa.Column('measure_unit_id', sa.Integer(), nullable=True),
    sa.Column('product_name', sa.String(length=60), nullable=True),
    sa.Column('quantity', sa.Numeric(precision=16, scale=3), nullable=True),
    sa.Column('amount', sa.Numeric(precision=16, scale=2), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('flags', sa.String(length=100), nullable=False),
    sa.Column('return_reason', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('submitted_at', sa.DateTime(), nullable=True),
    sa.Column('reached_city_at', sa.DateTime(), nullable=True),
    sa.Column('approved_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['category_id'], ['dictionary_entry.id'], name=op.f('fk_purchase_record_category_id_dictionary_entry')),
    sa.ForeignKeyConstraint(['created_by_id'], ['account.id'], name=op.f('fk_purchase_record_created_by_id_account')),
    sa.ForeignKeyConstraint(['first_reviewer_id'], ['unit.id'], name=op.f('fk_purchase_record_first_reviewer_id_unit')),
    sa.ForeignKeyConstraint(['measure_unit_id'], ['dictionary_entry.id'], name=op.f('fk_purchase_record_measure_unit_id_dictionary_entry')),
    sa.ForeignKeyConstraint(['origin_city_code'], ['region.code'], name=op.f('fk_purchase_record_origin_city_code_region')),
    sa.ForeignKeyConstraint(['origin_county_code'], ['region.code'], name=op.f('fk_purchase_record_origin_county_code_region')),
    sa.ForeignKeyConstraint(['origin_province_code'], ['region.code'], name=op.f('fk_purchase_record_origin_province_code_region')),
    sa.ForeignKeyConstraint(['period_id'], ['reporting_period.id'], name=op.f('fk_purchase_record_period_id_reporting_period')),
    sa.ForeignKeyConstraint(['unit_id'], ['unit.id'], name=op.f('fk_purchase_record_unit_id_unit')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_purchase_record'))
    )
    with op.batch_alter_table('purchase_record', schema=None) as batch_op:
        batch_op.create_index('ix_purchase_record_city_queue', ['city_scope', 'status', 'id'], unique=False)
        batch_op.create_index('ix_purchase_record_first_queue', ['first_reviewer_id', 'status', 'id'], unique=False)
        batch_op.create_index('ix_purchase_record_unit_list', ['unit_id', 'id'], unique=False)

    op.create_table('review_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('record_id', sa.Integer(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=False),
    sa.Column('actor_unit_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('action', sa.String(length=10), nullable=False),
    sa.Column('from_status', sa.String(length=10), nullable=False),
    sa.Column('to_status', sa.String(length=10), nullable=False),
    sa.Column('comment', sa.String(length=200), nullable=True),
    sa.Column('changes', sa.Text(), nullable=True),
    sa.Column('snapshot', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['actor_id'], ['account.id'], name=op.f('fk_review_event_actor_id_account')),
    sa.ForeignKeyConstraint(['actor_unit_id'], ['unit.id'], name=op.f('fk_review_event_actor_unit_id_unit')),
    sa.ForeignKeyConstraint(['record_id'], ['purchase_record.id'], name=op.f('fk_review_event_record_id_purchase_record')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_review_event'))
    )
    with op.batch_alter_table('review_event', schema=None) as batch_op:
        batch_op.create_index('ix_review_event_actor_unit', ['actor_unit_id', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_review_event_record_id'), ['record_id'], unique=False)

    op.create_table('voucher',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('record_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('original_name', sa.String(length=200), nullable=False),
    sa.Column('stored_name', sa.String(length=80), nullable=False),
    sa.Column('content_type', sa.String(length=40), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('uploaded_at', sa.DateTime(), nullable=False),
    sa.Column('uploaded_by_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['record_id'], ['purchase_record.id'], name=op.f('fk_voucher_record_id_purchase_record')),
    sa.ForeignKeyConstraint(['uploaded_by_id'], ['account.id'], name=op.f('fk_voucher_uploaded_by_id_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_voucher')),
    sa.UniqueConstraint('stored_name', name=op.f('uq_voucher_stored_name'))
    )
    with op.batch_alter_table('voucher', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_voucher_record_id'), ['record_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_voucher_sha256'), ['sha256'], unique=False)



def downgrade():
    with op.batch_alter_table('voucher', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_voucher_sha256'))
        batch_op.drop_index(batch_op.f('ix_voucher_record_id'))

    op.drop_table('voucher')
    with op.batch_alter_table('review_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_review_event_record_id'))
        batch_op.drop_index('ix_review_event_actor_unit')

    op.drop_table('review_event')
    with op.batch_alter_table('purchase_record', schema=None) as batch_op:
        batch_op.drop_index('ix_purchase_record_unit_list')
        batch_op.drop_index('ix_purchase_record_first_queue')
        batch_op.drop_index('ix_purchase_record_city_queue')

    op.drop_table('purchase_record')
    for name in ("city_scope", "channel", "origin_county_code", "category_id"):
        op.drop_index(f"ix_record_total_by_{name}", table_name="record_total")
    op.drop_table('record_total')
    op.drop_table('price_stat')
    op.drop_table('reporting_period')
    op.drop_table('queue_counter')
