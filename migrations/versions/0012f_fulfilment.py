"""832 fulfilment: every statistics workbook a finance department imports, and its lines

Revision ID: 0012f
Revises: 0012s_staged_uploads
Create Date: 2026-11-30 16:00:00

"""
from alembic import op
import sqlalchemy as sa

revision = '0012f'
down_revision = '0012s_staged_uploads'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'fulfilment_import',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('finance_id', sa.Integer(), nullable=False),
        sa.Column('year', sa.Integer(), nullable=False),
        sa.Column('as_of', sa.Date(), nullable=False),
        sa.Column('filename', sa.String(length=200), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('line_count', sa.Integer(), nullable=False),
        sa.Column('canteen_total', sa.Numeric(precision=18, scale=2), nullable=False),
        sa.Column('union_total', sa.Numeric(precision=18, scale=2), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['created_by_id'], ['account.id'],
                                name=op.f('fk_fulfilment_import_created_by_id_account')),
        sa.ForeignKeyConstraint(['finance_id'], ['unit.id'], name=op.f('fk_fulfilment_import_finance_id_unit')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_fulfilment_import')),
    )
    op.create_index(op.f('ix_fulfilment_import_finance_id'), 'fulfilment_import', ['finance_id'], unique=False)
    op.create_table(
        'fulfilment_line',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('import_id', sa.Integer(), nullable=False),
        sa.Column('unit_id', sa.Integer(), nullable=False),
        sa.Column('year', sa.Integer(), nullable=False),
        sa.Column('as_of', sa.Date(), nullable=False),
        sa.Column('canteen_amount', sa.Numeric(precision=16, scale=2), nullable=False),
        sa.Column('union_amount', sa.Numeric(precision=16, scale=2), nullable=False),
        sa.Column('listed_name', sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(['import_id'], ['fulfilment_import.id'],
                                name=op.f('fk_fulfilment_line_import_id_fulfilment_import')),
        sa.ForeignKeyConstraint(['unit_id'], ['unit.id'], name=op.f('fk_fulfilment_line_unit_id_unit')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_fulfilment_line')),
    )
    op.create_index(op.f('ix_fulfilment_line_import_id'), 'fulfilment_line', ['import_id'], unique=False)
    op.create_index('ix_fulfilment_line_year_unit_as_of', 'fulfilment_line', ['year', 'unit_id', 'as_of'],
                    unique=False)


def downgrade():
    op.drop_index('ix_fulfilment_line_year_unit_as_of', table_name='fulfilment_line')
    op.drop_index(op.f('ix_fulfilment_line_import_id'), table_name='fulfilment_line')
    op.drop_table('fulfilment_line')
    op.drop_index(op.f('ix_fulfilment_import_finance_id'), table_name='fulfilment_import')
    op.drop_table('fulfilment_import')
