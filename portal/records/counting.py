"""Counters and totals added to in the same transaction as the change they count.

An atomic `INSERT … ON CONFLICT DO UPDATE SET n = n + :d` on both databases, so two
reviewers acting at once never lose each other's addition.
"""
from sqlalchemy.dialects import postgresql, sqlite

from portal.extensions import db

_DIALECT_INSERT = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def add_to(model, keys, increments):
    """Add `increments` to the row of `model` identified by `keys`, creating it if needed."""
    insert = _DIALECT_INSERT[db.session.get_bind().dialect.name]
    statement = insert(model).values(**keys, **increments)
    statement = statement.on_conflict_do_update(
        index_elements=list(keys),
        set_={name: getattr(model, name) + statement.excluded[name] for name in increments},
    )
    db.session.execute(statement)
