"""Reminders (催报/催办): every one kept, with who sent it, to which unit and why

Revision ID: 0012r
Revises: 0012f
Create Date: 2026-11-30 16:30:00

"""
from alembic import op
import sqlalchemy as sa

revision = '0012r'
down_revision = '0012f'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'reminder',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('sent_at', sa.DateTime(), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('sender_id', sa.Integer(), nullable=True),
        sa.Column('sender_unit_id', sa.Integer(), nullable=True),
        sa.Column('unit_id', sa.Integer(), nullable=False),
        sa.Column('reason', sa.String(length=12), nullable=False),
        sa.Column('year', sa.Integer(), nullable=True),
        sa.Column('text', sa.String(length=300), nullable=False),
        sa.Column('recipients', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['sender_id'], ['account.id'], name=op.f('fk_reminder_sender_id_account')),
        sa.ForeignKeyConstraint(['sender_unit_id'], ['unit.id'], name=op.f('fk_reminder_sender_unit_id_unit')),
        sa.ForeignKeyConstraint(['unit_id'], ['unit.id'], name=op.f('fk_reminder_unit_id_unit')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_reminder')),
    )
    op.create_index(op.f('ix_reminder_sender_unit_id'), 'reminder', ['sender_unit_id'], unique=False)
    op.create_index('ix_reminder_unit_day', 'reminder', ['unit_id', 'day'], unique=False)


def downgrade():
    op.drop_index('ix_reminder_unit_day', table_name='reminder')
    op.drop_index(op.f('ix_reminder_sender_unit_id'), table_name='reminder')
    op.drop_table('reminder')
