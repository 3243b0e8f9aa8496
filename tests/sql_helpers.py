"""Watching the SQL an app sends, for tests that count or read its statements."""
from contextlib import contextmanager

from sqlalchemy import event

from portal.extensions import db


@contextmanager
def statements(app):
    """The SQL the app sends while the block runs, without its parameters."""
    seen = []

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)
