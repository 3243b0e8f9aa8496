"""Budget units' ancestors and the reserved-share tallies: a superior's or finance department's
pages read one page of their units by key and their counts from reservation_tally, instead of
walking the whole department and loading every form (20,000 units took seconds a page); their
queues read a page by key on an index of their own

budget_unit_ancestor holds each budget unit with itself, every budget unit above it and its
nearest finance department; reservation_tally counts, per such unit and year, its active units'
forms by state and its active units (year 0), and per superior and finance department the forms
waiting for it. Both are filled here from the tree and the forms as they stand, and kept from
then on by portal/reservations/tallies.py. The downgrade drops them.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30 21:00:00

"""
from alembic import op
import sqlalchemy as sa

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

unit = sa.table("unit", sa.column("id"), sa.column("parent_id"), sa.column("kind"), sa.column("active"))
form = sa.table("reservation", sa.column("unit_id"), sa.column("year"), sa.column("status"),
                sa.column("batch_id"), sa.column("superior_id"), sa.column("finance_id"))
ancestor = sa.table("budget_unit_ancestor", sa.column("ancestor_id"), sa.column("unit_id"))
tally = sa.table("reservation_tally", sa.column("unit_id"), sa.column("year"), sa.column("key"), sa.column("count"))


def upgrade():
    op.create_table(
        'budget_unit_ancestor',
        sa.Column('ancestor_id', sa.Integer(), nullable=False),
        sa.Column('unit_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['ancestor_id'], ['unit.id'], name=op.f('fk_budget_unit_ancestor_ancestor_id_unit')),
        sa.ForeignKeyConstraint(['unit_id'], ['unit.id'], name=op.f('fk_budget_unit_ancestor_unit_id_unit')),
        sa.PrimaryKeyConstraint('ancestor_id', 'unit_id', name=op.f('pk_budget_unit_ancestor')),
    )
    op.create_index(op.f('ix_budget_unit_ancestor_unit_id'), 'budget_unit_ancestor', ['unit_id'])
    op.create_table(
        'reservation_tally',
        sa.Column('unit_id', sa.Integer(), nullable=False),
        sa.Column('year', sa.Integer(), nullable=False),
        sa.Column('key', sa.String(length=12), nullable=False),
        sa.Column('count', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['unit_id'], ['unit.id'], name=op.f('fk_reservation_tally_unit_id_unit')),
        sa.PrimaryKeyConstraint('unit_id', 'year', 'key', name=op.f('pk_reservation_tally')),
    )
    op.create_index('ix_reservation_superior_queue', 'reservation',
                    ['superior_id', 'year', 'status', 'submitted_at', 'id'])
    op.create_index('ix_reservation_finance_queue', 'reservation', ['finance_id', 'year', 'status', 'id'])
    _fill(op.get_bind())


def _fill(bind):
    kinds = dict(bind.execute(sa.select(unit.c.id, unit.c.kind).where(
        unit.c.kind.in_(("budget_unit", "finance")))).all())
    parents = dict(bind.execute(sa.select(unit.c.id, unit.c.parent_id).where(unit.c.kind == "budget_unit")).all())
    rows = []
    for unit_id in parents:
        node = unit_id
        while node is not None and kinds.get(node) == "budget_unit":
            rows.append({"ancestor_id": node, "unit_id": unit_id})
            node = parents[node]
        if node is not None and kinds.get(node) == "finance":
            rows.append({"ancestor_id": node, "unit_id": unit_id})
    for start in range(0, len(rows), 5000):
        bind.execute(ancestor.insert(), rows[start:start + 5000])
    member = (sa.select(ancestor.c.ancestor_id, ancestor.c.unit_id).join(unit, unit.c.id == ancestor.c.unit_id)
              .where(unit.c.active.is_(True)).subquery())
    key = sa.case((form.c.status == "confirmed",
                   sa.case((sa.and_(form.c.batch_id.is_(None), form.c.superior_id.is_not(None)), sa.literal("ready")),
                           else_=sa.literal("sent"))), else_=form.c.status)
    sources = [
        sa.select(member.c.ancestor_id, sa.literal(0), sa.literal("units"), sa.func.count())
        .group_by(member.c.ancestor_id),
        sa.select(member.c.ancestor_id, form.c.year, key, sa.func.count())
        .join(form, form.c.unit_id == member.c.unit_id).group_by(member.c.ancestor_id, form.c.year, key),
        sa.select(form.c.superior_id, form.c.year, sa.literal("to_confirm"), sa.func.count())
        .where(form.c.status == "submitted", form.c.superior_id.is_not(None)).group_by(form.c.superior_id, form.c.year),
        sa.select(form.c.finance_id, form.c.year, sa.literal("to_finalize"), sa.func.count())
        .where(form.c.status == "confirmed", sa.or_(form.c.batch_id.is_not(None), form.c.superior_id.is_(None)))
        .group_by(form.c.finance_id, form.c.year),
    ]
    for source in sources:
        bind.execute(tally.insert().from_select(["unit_id", "year", "key", "count"], source))


def downgrade():
    op.drop_index('ix_reservation_finance_queue', table_name='reservation')
    op.drop_index('ix_reservation_superior_queue', table_name='reservation')
    op.drop_table('reservation_tally')
    op.drop_index(op.f('ix_budget_unit_ancestor_unit_id'), table_name='budget_unit_ancestor')
    op.drop_table('budget_unit_ancestor')
