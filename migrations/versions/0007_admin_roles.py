"""三员分立: the administrator role of a system account (system, security or audit)

Accounts of the system unit (系统管理) were all "the system administrator". Level 3 of 等保 2.0
separates three: the system administrator (opens the province office and finance), the security
administrator (sessions, lockouts, second factors) and the audit administrator (reads and
verifies the trail). One column holds the role, so no account can hold two; the accounts that
exist become system administrators, which is what they were.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 10:10:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('account') as batch:
        batch.add_column(sa.Column('admin_role', sa.String(length=10), nullable=True))
        batch.create_check_constraint('admin_role', "admin_role IN ('system', 'security', 'audit')")
    op.execute("UPDATE account SET admin_role = 'system' "
               "WHERE unit_id IN (SELECT id FROM unit WHERE kind = 'system')")


def downgrade():
    with op.batch_alter_table('account') as batch:
        batch.drop_constraint('ck_account_admin_role', type_='check')
        batch.drop_column('admin_role')
