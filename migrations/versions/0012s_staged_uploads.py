"""Staged uploads: a file checked and previewed by one request, committed by a later one

The budget-unit import previews a workbook before it commits it (and the 832 fulfilment import
will do the same): the file waits on the shared files location, and this row binds it to a
token, the account that uploaded it, its purpose and an expiry (portal/staged_uploads.py).

Revision ID: 0012s_staged_uploads
Revises: 0011
Create Date: 2026-12-05 10:00:00

"""
from alembic import op
import sqlalchemy as sa

revision = '0012s_staged_uploads'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'staged_upload',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('account_id', sa.Integer(), nullable=False),
        sa.Column('purpose', sa.String(length=40), nullable=False),
        sa.Column('filename', sa.String(length=200), nullable=False),
        sa.Column('stored_name', sa.String(length=120), nullable=False),
        sa.Column('size', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('expires_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['account_id'], ['account.id'], name=op.f('fk_staged_upload_account_id_account')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_staged_upload')),
        sa.UniqueConstraint('token_hash', name=op.f('uq_staged_upload_token_hash')),
    )
    op.create_index(op.f('ix_staged_upload_account_id'), 'staged_upload', ['account_id'], unique=False)
    op.create_index(op.f('ix_staged_upload_expires_at'), 'staged_upload', ['expires_at'], unique=False)


def downgrade():
    op.drop_index(op.f('ix_staged_upload_expires_at'), table_name='staged_upload')
    op.drop_index(op.f('ix_staged_upload_account_id'), table_name='staged_upload')
    op.drop_table('staged_upload')
