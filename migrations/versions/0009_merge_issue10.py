"""join the three branches of 0008: the audit chain, the second factor, the security settings

They were written side by side from 0007 and touch different tables; this revision only makes
the history one line again, so that `flask db upgrade` and `downgrade` have a single head.

Revision ID: 0009
Revises: 0008a, 0008b, 0008c
Create Date: 2026-11-30 10:45:00

"""

revision = '0009'
down_revision = ('0008a', '0008b', '0008c')
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
