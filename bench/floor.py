"""The bare-stack floor of the records benchmark: Flask, SQLAlchemy Core and Jinja on the same
database, with none of the portal's code (no login, session, CSRF, audit trail or permission).

Each route does the least the stack needs for the same page: the same 50 rows of the queue with
their unit, category and county names, a record with its events, an approval as two statements
(the record and its queue's counter), one GROUP BY over a summary for the totals (record_total) and the
dashboard (record_breakdown), and the counters a home page shows. The portal's page costs are read as a ratio to
these, timed interleaved in one process, so that a busy machine moves both alike.
"""
from flask import Flask, render_template_string
from sqlalchemy import create_engine, event, text

PAGE_SIZE = 50

_TABLE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>{{ title }}</title>
<link rel="stylesheet" href="/static/app.css"></head><body><main><h1>{{ title }}</h1>
<table>{% for row in rows %}<tr>{% for value in row %}<td>{{ value }}</td>{% endfor %}</tr>{% endfor %}</table>
</main></body></html>"""

_QUEUE = text("""
    SELECT r.id, u.name, r.product_name, c.name, g.name, r.quantity, r.amount, r.submitted_at
    FROM purchase_record r JOIN unit u ON u.id = r.unit_id
    JOIN dictionary_entry c ON c.id = r.category_id JOIN region g ON g.code = r.origin_county_code
    WHERE r.city_scope = :scope AND r.status = 'submitted' ORDER BY r.id DESC LIMIT :size""")
_DETAIL = text("""
    SELECT r.id, u.name, r.product_name, c.name, g.name, r.quantity, r.amount, r.status
    FROM purchase_record r JOIN unit u ON u.id = r.unit_id
    JOIN dictionary_entry c ON c.id = r.category_id JOIN region g ON g.code = r.origin_county_code
    WHERE r.id = :id""")
_EVENTS = text("SELECT action, from_status, to_status, at FROM review_event WHERE record_id = :id ORDER BY id")
_APPROVE = text("""UPDATE purchase_record SET status = 'approved', version = version + 1
    WHERE id = :id AND status = 'submitted'""")
_COUNTER = text("UPDATE queue_counter SET count = count - 1 WHERE key = :key")
_TOTALS = text("""SELECT city_scope, sum(record_count), sum(amount) FROM record_total
    GROUP BY city_scope ORDER BY 3 DESC""")
_BREAKDOWNS = text("""SELECT dimension, key, sum(record_count), sum(amount) FROM record_breakdown
    WHERE scope = '' GROUP BY dimension, key""")
_COUNTERS = text("SELECT key, count FROM queue_counter WHERE key IN (:pending, :done)")


def floor_app(database_url):
    """A Flask app with the floor's routes over the database at `database_url`."""
    engine = create_engine(database_url)
    if engine.dialect.name == "sqlite":
        # the portal's own connection settings (portal/extensions.py), so that a commit costs alike
        @event.listens_for(engine, "connect")
        def _pragmas(connection, _record):
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")

    app = Flask(__name__)

    def page(title, rows):
        return render_template_string(_TABLE, title=title, rows=rows)

    @app.get("/queue/<scope>")
    def queue(scope):
        with engine.connect() as connection:
            return page("待审核", connection.execute(_QUEUE, {"scope": scope, "size": PAGE_SIZE}).all())

    @app.get("/records/<int:record_id>")
    def detail(record_id):
        with engine.connect() as connection:
            rows = connection.execute(_DETAIL, {"id": record_id}).all()
            rows += connection.execute(_EVENTS, {"id": record_id}).all()
            return page("购销记录", rows)

    @app.post("/records/<int:record_id>/approve")
    def approve(record_id):
        with engine.begin() as connection:
            connection.execute(_APPROVE, {"id": record_id})
            connection.execute(_COUNTER, {"key": "city:440100"})
        return page("已审核通过", [])

    @app.get("/totals")
    def totals():
        with engine.connect() as connection:
            return page("汇总", connection.execute(_TOTALS).all())

    @app.get("/dashboard")
    def dashboard():
        with engine.connect() as connection:
            return page("监测", connection.execute(_BREAKDOWNS).all())

    @app.get("/home/<int:unit_id>")
    def home(unit_id):
        with engine.connect() as connection:
            return page("首页", connection.execute(_COUNTERS, {"pending": f"first:{unit_id}",
                                                              "done": f"done:{unit_id}"}).all())

    return app
