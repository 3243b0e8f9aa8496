"""Approved totals one breakdown at a time (record_breakdown: month, city, channel, origin county,
category and period, for the province and each city, by year of approval), kept by the approving
transaction; filled here from the records already approved. It replaces record_month_total,
whose month × city × channel × county rows the dashboard grouped three times per visit.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30 21:00:00

"""
from alembic import op
import sqlalchemy as sa

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

#: per dialect: the approval's year, its "YYYY-MM" and the first day of its month, in China (UTC+8)
YEAR = {"postgresql": "CAST(EXTRACT(YEAR FROM approved_at + interval '8 hours') AS INTEGER)",
        "sqlite": "CAST(strftime('%Y', approved_at, '+8 hours') AS INTEGER)"}
MONTH_KEY = {"postgresql": "to_char(approved_at + interval '8 hours', 'YYYY-MM')",
             "sqlite": "strftime('%Y-%m', approved_at, '+8 hours')"}
MONTH_DAY = {"postgresql": "CAST(date_trunc('month', approved_at + interval '8 hours') AS date)",
             "sqlite": "date(approved_at, '+8 hours', 'start of month')"}
APPROVED = "status = 'approved' AND approved_at IS NOT NULL"


def upgrade():
    op.create_table(
        'record_breakdown',
        sa.Column('scope', sa.String(length=6), nullable=False),
        sa.Column('year', sa.Integer(), nullable=False),
        sa.Column('dimension', sa.String(length=10), nullable=False),
        sa.Column('key', sa.String(length=20), nullable=False),
        sa.Column('record_count', sa.Integer(), nullable=False),
        sa.Column('amount', sa.Numeric(precision=18, scale=2), nullable=False),
        sa.PrimaryKeyConstraint('scope', 'year', 'dimension', 'key', name=op.f('pk_record_breakdown')),
    )
    dialect = op.get_bind().dialect.name
    year = YEAR[dialect]
    keys = {"month": MONTH_KEY[dialect], "city": "city_scope", "channel": "channel", "county": "origin_county_code",
            "category": "CAST(category_id AS VARCHAR(20))", "period": "CAST(period_id AS VARCHAR(20))"}
    # SUM keeps each dialect's own exact form: NUMERIC on PostgreSQL, integer fen on SQLite
    for dimension, key in keys.items():
        op.execute(f"""
            INSERT INTO record_breakdown (scope, year, dimension, key, record_count, amount)
            SELECT '', {year}, '{dimension}', {key}, COUNT(*), SUM(amount) FROM purchase_record
            WHERE {APPROVED} GROUP BY {year}, {key}
        """)
        if dimension != "city":
            op.execute(f"""
                INSERT INTO record_breakdown (scope, year, dimension, key, record_count, amount)
                SELECT city_scope, {year}, '{dimension}', {key}, COUNT(*), SUM(amount) FROM purchase_record
                WHERE {APPROVED} GROUP BY city_scope, {year}, {key}
            """)
    op.drop_table('record_month_total')


def downgrade():
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
    month = MONTH_DAY[op.get_bind().dialect.name]
    op.execute(f"""
        INSERT INTO record_month_total (month, city_scope, channel, origin_county_code, record_count, amount)
        SELECT {month}, city_scope, channel, origin_county_code, COUNT(*), SUM(amount)
        FROM purchase_record WHERE {APPROVED} AND origin_county_code IS NOT NULL
        GROUP BY {month}, city_scope, channel, origin_county_code
    """)
    op.drop_table('record_breakdown')
