"""Each filing unit's records counted by status in queue_counter ("unit:<id>:<status>"), kept by
every transition as the queues' counters are: the unit's home page reads five counters instead of
counting all of its records (47,000 for the largest benchmark unit) on every visit

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30 20:30:00

"""
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade():
    op.execute("""
        INSERT INTO queue_counter ("key", count)
        SELECT 'unit:' || CAST(unit_id AS VARCHAR(12)) || ':' || status, COUNT(*)
        FROM purchase_record GROUP BY unit_id, status
    """)


def downgrade():
    op.execute("""DELETE FROM queue_counter WHERE "key" LIKE 'unit:%'""")
