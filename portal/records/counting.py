"""Counters and totals added to in the same transaction as the change they count.

An atomic `INSERT … ON CONFLICT DO UPDATE SET n = n + :d` on both databases, so two
reviewers acting at once never lose each other's addition.
"""
from functools import cache

from sqlalchemy.dialects import postgresql, sqlite

from portal.extensions import db

_DIALECT_INSERT = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


@cache
def _upsert(dialect, model, keys, increments):
    """The statement for one shape of addition, built once per process: building it (its
    `excluded` columns above all) cost more than running it."""
    statement = _DIALECT_INSERT[dialect](model)
    return statement.on_conflict_do_update(
        index_elements=list(keys),
        set_={name: getattr(model, name) + statement.excluded[name] for name in increments},
    )


def add_to(model, keys, increments):
    """Add `increments` to the row of `model` identified by `keys`, creating it if needed."""
    add_to_many(model, [{**keys, **increments}], keys=tuple(keys), increments=tuple(increments))


def add_to_many(model, rows, *, keys, increments):
    """Add to several rows of `model` in one statement; each row names `keys` and `increments`.
    The rows go in key order, so that two transactions adding to the same rows lock them alike."""
    if not rows:
        return
    connection = db.session.connection()
    statement = _upsert(connection.dialect.name, model, tuple(keys), tuple(increments))
    # On the session's connection, in its transaction, but as Core: the ORM's bulk-insert path
    # took longer than the statement (the counted rows depend on no pending object of the session).
    connection.execute(statement, sorted(rows, key=lambda row: tuple(str(row[k]) for k in keys)))
