"""Approved totals by month of approval: the dashboards' trends, kept by the approving
transaction; filled here from the records already approved

Revision ID: 0012m
Revises: 0012r
Create Date: 2026-11-30 17:00:00

"""
from alembic import op
import sqlalchemy as sa

revision = '0012m'
down_revision = '0012r'
branch_labels = None
depends_on = None

#: the first day of the approval's month in China (UTC+8), per dialect
MONTH = {
    "postgresql": "CAST(date_trunc('month', approved_at + interval '8 hours') AS date)",
    "sqlite": "date(approved_at, '+8 hours', 'start of month')",
}


def upgrade():
    op.create_table(
        'record_month_total',
        sa.Column('month', sa.Date(), nullable=False),
        sa.Column('city_scope', sa.String(length=6), nullable=False),
        sa.Column('channel', sa.String(length=20), nullable=False),
        sa.Column('origin_county_code', sa.String(length=6), nullable=False),
        sa.Column('record_count', sa.Integer(), nullable=False),
        sa.Column('amount', sa.Numeric(precision=18, scale=2), nullable=False),
        sa.ForeignKeyConstraint(['origin_county_code'], ['region.code'],
                                name=op.f('fk_record_month_total_origin_county_code_region')),
        sa.PrimaryKeyConstraint('month', 'city_scope', 'channel', 'origin_county_code',
                                name=op.f('pk_record_month_total')),
    )
    month = MONTH[op.get_bind().dialect.name]
    # SUM keeps each dialect's own exact form: NUMERIC on PostgreSQL, integer fen on SQLite
    op.execute(f"""
        INSERT INTO record_month_total (month, city_scope, channel, origin_county_code, record_count, amount)
        SELECT {month}, city_scope, channel, origin_county_code, COUNT(*), SUM(amount)
        FROM purchase_record
        WHERE status = 'approved' AND approved_at IS NOT NULL AND origin_county_code IS NOT NULL
        GROUP BY {month}, city_scope, channel, origin_county_code
    """)


def downgrade():
    op.drop_table('record_month_total')
