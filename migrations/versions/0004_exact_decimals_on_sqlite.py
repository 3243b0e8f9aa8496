"""exact decimals on SQLite: money, ratios and quantities as integers of their smallest unit

SQLite's NUMERIC kept these as doubles. portal.dbtypes.ExactDecimal now stores them on SQLite
as integers (12800.50 元 as 1280050); this converts the rows already there. PostgreSQL's NUMERIC
was exact all along and is left as it is.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 00:05:00

"""
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

#: table -> {column: scale}
COLUMNS = {
    "purchase_record": {"quantity": 3, "amount": 2},
    "record_total": {"amount": 2},
    "year_policy": {"min_ratio": 2, "encouraged_ratio": 2, "national_floor": 2},
    "reservation": {"canteen_total": 2, "ratio": 2, "reserved_amount": 2, "union_total": 2, "union_ratio": 2,
                    "union_expected": 2},
}


def _convert(to_integers):
    if op.get_bind().dialect.name != "sqlite":
        return
    for table, columns in COLUMNS.items():
        for column, scale in columns.items():
            factor = 10 ** scale
            value = f"CAST(ROUND({column} * {factor}) AS INTEGER)" if to_integers else f"{column} / {factor}.0"
            op.execute(f"UPDATE {table} SET {column} = {value} WHERE {column} IS NOT NULL")


def upgrade():
    _convert(to_integers=True)


def downgrade():
    _convert(to_integers=False)
