"""join the branches of issue 12: staged uploads, 832 fulfilment, reminders and month totals on
one side, the units' current contacts on the other

Revision ID: 0013
Revises: 0012m, 0012_unit_contacts
Create Date: 2026-11-30 18:00:00

"""
revision = '0013'
down_revision = ('0012m', '0012_unit_contacts')
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
