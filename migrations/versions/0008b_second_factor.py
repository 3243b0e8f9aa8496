"""Second factor (TOTP) for administrators: the enrolled secret, recovery codes, and the
session's second-factor state

The secret is SM4-encrypted by the application (portal/crypto.py: keys outside the database);
recovery codes are kept only as keyed SM3 hashes. A session row records whether its login still
owes the second factor, when it was given, and the wrong tries so far.

Revision ID: 0008b
Revises: 0007
Create Date: 2026-11-30 11:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0008b'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'second_factor',
        sa.Column('account_id', sa.Integer(), sa.ForeignKey('account.id', name='fk_second_factor_account_id_account'),
                  primary_key=True),
        sa.Column('secret', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('confirmed_at', sa.DateTime(), nullable=True),
        sa.Column('last_step', sa.BigInteger(), nullable=True),
    )
    op.create_table(
        'recovery_code',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('account_id', sa.Integer(), sa.ForeignKey('account.id', name='fk_recovery_code_account_id_account'),
                  nullable=False),
        sa.Column('code_hash', sa.String(length=64), nullable=False),
        sa.Column('used_at', sa.DateTime(), nullable=True),
    )
    op.create_index('ix_recovery_code_account_id', 'recovery_code', ['account_id'])
    with op.batch_alter_table('login_session') as batch:
        batch.add_column(sa.Column('second_factor_pending', sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
        batch.add_column(sa.Column('second_factor_at', sa.DateTime(), nullable=True))
        batch.add_column(sa.Column('second_factor_failures', sa.Integer(), nullable=False, server_default='0'))


def downgrade():
    with op.batch_alter_table('login_session') as batch:
        batch.drop_column('second_factor_failures')
        batch.drop_column('second_factor_at')
        batch.drop_column('second_factor_pending')
    op.drop_index('ix_recovery_code_account_id', table_name='recovery_code')
    op.drop_table('recovery_code')
    op.drop_table('second_factor')
