"""The bare-stack floor of the reserved-share pages: a minimal Flask + SQLAlchemy + Jinja app on the
benchmark's database that reads what each page shows at the page's size and renders it as plain
tables, with no login, no session, no ORM objects and no layout.

Each route is the least a page of its kind could do: the 50 rows the list shows (by key, on the
same indexes), the counts it shows by one GROUP BY, and the one form a home or detail page reads.
The product's time over this floor's, measured in the same process on the same database, is
what the portal's own layers cost; the floor's growth is what the data itself costs.
"""
from flask import Flask
from sqlalchemy import and_, create_engine, func, select

from portal.accounts.models import Unit
from portal.reservations.models import Reservation

PAGE = 50
r, u = Reservation.__table__, Unit.__table__

TEMPLATE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>{{ title }}</title></head><body>
<h1>{{ title }}</h1>
{% if counts %}<p>{% for status, n in counts %}{{ status }} {{ n }}{{ " · " if not loop.last }}{% endfor %}</p>
{% endif %}{% for table in tables %}<table><tbody>
{% for row in table %}<tr>{% for cell in row %}<td>{{ cell if cell is not none else "" }}</td>{% endfor %}</tr>
{% endfor %}</tbody></table>{% endfor %}
</body></html>"""


def _page(template, conn, title, counts=(), *queries):
    tables = [conn.execute(query).all() for query in queries]
    return template.render(title=title, counts=counts, tables=tables)


def _queue(where, order):
    return (select(r.c.id, u.c.name, r.c.ratio, r.c.reserved_amount, r.c.submitted_at, r.c.flags)
            .join(u, u.c.id == r.c.unit_id).where(*where).order_by(*order).limit(PAGE))


def _units(where, year):
    return (select(u.c.id, u.c.name, r.c.status, r.c.ratio, r.c.reserved_amount)
            .outerjoin(r, and_(r.c.unit_id == u.c.id, r.c.year == year)).where(*where).order_by(u.c.id).limit(PAGE))


def make_floor_app(url):
    app = Flask("reservations_floor")
    engine = create_engine(url)
    template = app.jinja_env.from_string(TEMPLATE)  # compiled once, as Flask caches a template file

    @app.get("/confirmations/<int:head_id>/<int:year>")
    def confirmations(head_id, year):
        with engine.connect() as conn:
            counts = conn.execute(select(r.c.status, func.count()).where(r.c.superior_id == head_id, r.c.year == year)
                                  .group_by(r.c.status)).all()
            return _page(template, conn, "预留份额信息确认", counts,
                         _queue((r.c.superior_id == head_id, r.c.year == year, r.c.status == "submitted"),
                                (r.c.submitted_at, r.c.id)),
                         _units((u.c.parent_id == head_id,), year))

    @app.get("/finance/<int:finance_id>/<int:year>")
    def finance(finance_id, year):
        with engine.connect() as conn:
            counts = conn.execute(select(r.c.status, func.count()).where(r.c.finance_id == finance_id,
                                                                        r.c.year == year).group_by(r.c.status)).all()
            return _page(template, conn, "预留份额确认（财政部门）", counts,
                         _queue((r.c.finance_id == finance_id, r.c.year == year, r.c.status == "confirmed"), (r.c.id,)),
                         select(u.c.id, u.c.name, r.c.status, r.c.ratio, r.c.reserved_amount)
                         .join(u, u.c.id == r.c.unit_id).where(r.c.finance_id == finance_id, r.c.year == year)
                         .order_by(r.c.unit_id).limit(PAGE))

    @app.get("/home/<int:unit_id>/<int:year>")
    def home(unit_id, year):
        with engine.connect() as conn:
            waiting = conn.scalar(select(func.count()).select_from(r).where(
                r.c.superior_id == unit_id, r.c.year == year, r.c.status == "submitted"))
            return _page(template, conn, "首页", [("待确认", waiting)],
                         select(u.c.name, r.c.status).outerjoin(r, and_(r.c.unit_id == u.c.id, r.c.year == year))
                         .where(u.c.id == unit_id))

    @app.get("/view/<int:reservation_id>")
    def detail(reservation_id):
        with engine.connect() as conn:
            unit_id, year = conn.execute(select(r.c.unit_id, r.c.year).where(r.c.id == reservation_id)).one()
            figures = (r.c.year, r.c.status, r.c.canteen_type, r.c.canteen_total, r.c.ratio, r.c.reserved_amount,
                       r.c.union_need, r.c.union_total, r.c.union_expected, r.c.submitted_at)
            return _page(template, conn, "预留份额", (), select(u.c.name, *figures).join(u, u.c.id == r.c.unit_id)
                         .where(r.c.id == reservation_id),
                         select(*figures).where(r.c.unit_id == unit_id, r.c.year == year - 1))

    @app.get("/oversight/<int:finance_id>/<int:year>")
    def oversight(finance_id, year):
        """The roll-up's figures by one GROUP BY of the year's forms per finance department and state."""
        with engine.connect() as conn:
            totals = conn.execute(select(r.c.finance_id, r.c.status, func.count(), func.sum(r.c.reserved_amount))
                                  .where(r.c.year == year).group_by(r.c.finance_id, r.c.status)).all()
            return _page(template, conn, "预留份额完成情况", [(f"{f}:{s}", n) for f, s, n, _ in totals],
                         select(u.c.id, u.c.name, r.c.status, r.c.reserved_amount).join(u, u.c.id == r.c.unit_id)
                         .where(r.c.finance_id == finance_id, r.c.year == year).order_by(r.c.unit_id).limit(PAGE))

    return app
