"""Security administrator: policy settings as data, and the address of an account's last login

The security administrator (安全管理员) sets the session timeouts and the lockout thresholds
from a page, so they are rows (key, integer value) read by the session and code policies, with
the environment variables as defaults. The previous login's address is shown after the next
login (上次登录信息), so it is kept beside last_login_at; and when an account was enabled
again, from which a dormant account's period starts anew.

Revision ID: 0008c
Revises: 0007
Create Date: 2026-11-30 11:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0008c'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'security_setting',
        sa.Column('key', sa.String(length=40), primary_key=True),
        sa.Column('value', sa.Integer(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.Column('updated_by_id', sa.Integer(), sa.ForeignKey('account.id'), nullable=True),
    )
    with op.batch_alter_table('account') as batch:
        batch.add_column(sa.Column('last_login_ip', sa.String(length=45), nullable=True))
        batch.add_column(sa.Column('reactivated_at', sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table('account') as batch:
        batch.drop_column('reactivated_at')
        batch.drop_column('last_login_ip')
    op.drop_table('security_setting')
