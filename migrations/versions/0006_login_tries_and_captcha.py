"""login abuse: wrong code tries by address, and graphic captchas already checked

code_failure keeps each wrong try at an SMS code with the client's address, so that tries are
limited per code and address and per number and address: a stranger on one network cannot
lock the owner out on another. captcha_use keeps the nonce of every captcha checked, so that
a copy of the signed session cookie cannot replay one.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 15:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('code_failure',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code_id', sa.Integer(), nullable=False),
    sa.Column('phone', sa.String(length=11), nullable=False),
    sa.Column('ip', sa.String(length=45), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['code_id'], ['sms_code.id'], name=op.f('fk_code_failure_code_id_sms_code'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_code_failure'))
    )
    with op.batch_alter_table('code_failure', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_code_failure_code_id'), ['code_id'], unique=False)
        batch_op.create_index('ix_code_failure_phone_ip_at', ['phone', 'ip', 'created_at'], unique=False)

    op.create_table('captcha_use',
    sa.Column('nonce', sa.String(length=32), nullable=False),
    sa.Column('used_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('nonce', name=op.f('pk_captcha_use'))
    )
    with op.batch_alter_table('captcha_use', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_captcha_use_used_at'), ['used_at'], unique=False)


def downgrade():
    with op.batch_alter_table('captcha_use', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_captcha_use_used_at'))
    op.drop_table('captcha_use')
    with op.batch_alter_table('code_failure', schema=None) as batch_op:
        batch_op.drop_index('ix_code_failure_phone_ip_at')
        batch_op.drop_index(batch_op.f('ix_code_failure_code_id'))
    op.drop_table('code_failure')
