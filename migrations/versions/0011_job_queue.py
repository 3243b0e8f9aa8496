"""Background jobs: the transactional outbox the worker runs (SMS first; sheets, exports and batch
approvals to follow)

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 14:00:00

"""
from alembic import op
import sqlalchemy as sa

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'job',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('payload', sa.Text(), nullable=True),
        sa.Column('summary', sa.String(length=200), nullable=False),
        sa.Column('subject', sa.String(length=60), nullable=True),
        sa.Column('status', sa.String(length=10), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('max_attempts', sa.Integer(), nullable=False),
        sa.Column('run_after', sa.DateTime(), nullable=False),
        sa.Column('expires_at', sa.DateTime(), nullable=True),
        sa.Column('locked_until', sa.DateTime(), nullable=True),
        sa.Column('locked_by', sa.String(length=60), nullable=True),
        sa.Column('last_error', sa.String(length=500), nullable=True),
        sa.Column('dedupe_key', sa.String(length=120), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('finished_at', sa.DateTime(), nullable=True),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.Column('result', sa.Text(), nullable=True),
        sa.Column('progress', sa.Integer(), server_default='0', nullable=False),
        sa.Column('total', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['created_by_id'], ['account.id'], name=op.f('fk_job_created_by_id_account')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_job')),
        sa.UniqueConstraint('dedupe_key', name=op.f('uq_job_dedupe_key')),
    )
    op.create_index('ix_job_status_run_after', 'job', ['status', 'run_after'], unique=False)
    op.create_index(op.f('ix_job_subject'), 'job', ['subject'], unique=False)


def downgrade():
    op.drop_index(op.f('ix_job_subject'), table_name='job')
    op.drop_index('ix_job_status_run_after', table_name='job')
    op.drop_table('job')
