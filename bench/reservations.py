"""Reserved-share benchmark: the pages budget units and finance land on, at two sizes and against a
bare-stack floor, interleaved in one process.

    python -m bench.reservations                 # 200 and 20,000 units under one superior, SQLite
    python -m bench.reservations --database-url postgresql+psycopg://postgres@127.0.0.1/portal_bench_res

Two databases are built from the demo tree (bench.reservations_data): a small one with 200 budget
units under the demo's department head and a large one with `--units` (about as many again over
other departments and finance levels). Each page is a whole request through the real app, logged
in through the real flow; for each of `--repeat` rounds every page is requested on the small
database, on the large one and from the floor (bench.reservations_floor, on the large database),
in a seeded random order, after a warm-up. On PostgreSQL the databases `<name>_small` and
`<name>_large` are created and dropped again. The last line printed is one JSON object:
per page its p95 at both sizes, the growth (p95 large ÷ small, and p50's beside it) and the floor
ratio (p50 large ÷ p50 floor), plus the SQL statements one request of it runs on the large database.
"""
import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url

from bench.common import logged_in_client, peak_rss_mb, reset_to_demo, summary
from bench.reservations_data import FINANCE_STAFF_PHONE, HEAD_PHONE, PLAIN_UNIT_PHONE, grow
from bench.reservations_floor import make_floor_app
from portal import create_app
from portal.demo import build_demo_reservations
from portal.extensions import db

SMALL_UNITS = 200
WARMUP = 3


def pages(ids):
    """page name -> (who asks, product URL, floor URL)."""
    year = ids["year"]
    return {
        "confirmations": ("head", "/reservations/confirmations", f"/confirmations/{ids['head_id']}/{year}"),
        "finance": ("finance", "/reservations/finance", f"/finance/{ids['finance_id']}/{year}"),
        "home_superior": ("head", "/", f"/home/{ids['head_id']}/{year}"),
        "home_unit": ("unit", "/", f"/home/{ids['plain_unit_id']}/{year}"),
        "home_finance": ("finance", "/", f"/home/{ids['finance_id']}/{year}"),
        "detail": ("head", f"/reservations/view/{ids['detail_id']}", f"/view/{ids['detail_id']}"),
        "oversight": ("finance", "/oversight/", f"/oversight/{ids['finance_id']}/{year}"),
        "oversight_city": ("finance", f"/oversight/finance/{ids['city_finance_id']}",
                           f"/oversight/{ids['city_finance_id']}/{year}"),
    }


PHONES = {"head": HEAD_PHONE, "unit": PLAIN_UNIT_PHONE, "finance": FINANCE_STAFF_PHONE}


def _database_urls(args, workdir):
    if not args.database_url:
        return {size: f"sqlite:///{workdir}/{size}.sqlite3" for size in ("small", "large")}
    base = make_url(args.database_url)
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    urls = {}
    with admin.connect() as conn:
        for size in ("small", "large"):
            name = f"{base.database}_{size}"
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
            urls[size] = base.set(database=name).render_as_string(hide_password=False)
    admin.dispose()
    return urls


def _drop_databases(args, urls):
    if not args.database_url:
        return
    base = make_url(args.database_url)
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for url in urls.values():
            conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    admin.dispose()


class Site:
    """One database behind the real app, its ids and a logged-in client per role."""

    def __init__(self, url, instance, units):
        os.makedirs(instance, exist_ok=True)
        self.app = create_app({"SQLALCHEMY_DATABASE_URI": url, "PORTAL_INSTANCE": instance,
                               "SMS_LIMIT_PER_MINUTE": 100, "SMS_LIMIT_PER_HOUR": 100, "SMS_LIMIT_PER_DAY": 100,
                               "RATELIMIT_ENABLED": False, "LOGIN_CAPTCHA": "off"})
        started = time.perf_counter()
        with self.app.app_context():
            reset_to_demo()
            build_demo_reservations(self.app.instance_path, self.app.config["PUBLIC_BASE_URL"])
            db.session.commit()
            self.ids = grow(units)
        self.build_seconds = round(time.perf_counter() - started, 1)
        self.clients = {role: logged_in_client(self.app, phone)[0] for role, phone in PHONES.items()}
        self.pages = pages(self.ids)

    def get(self, page):
        role, url, _ = self.pages[page]
        response = self.clients[role].get(url)
        assert response.status_code == 200, (page, url, response.status_code)

    def statements(self, page):
        """The SQL statements one request of the page runs."""
        with self.app.app_context():
            engine = db.engine
        count = 0

        def counted(*_):
            nonlocal count
            count += 1

        event.listen(engine, "before_cursor_execute", counted)
        try:
            self.get(page)
        finally:
            event.remove(engine, "before_cursor_execute", counted)
        return count


def _floor_get(client, url):
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)


def _timed(call):
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def run(args):
    load_start = os.getloadavg()[0]
    workdir = tempfile.mkdtemp(prefix="bench-reservations-")
    urls = _database_urls(args, workdir)
    try:
        small = Site(urls["small"], f"{workdir}/small", SMALL_UNITS)
        large = Site(urls["large"], f"{workdir}/large", args.units)
        floor = make_floor_app(urls["large"]).test_client()
        names = list(small.pages) if not args.pages else args.pages.split(",")
        ways = {"small": lambda page: small.get(page), "large": lambda page: large.get(page),
                "floor": lambda page: _floor_get(floor, large.pages[page][2])}
        for page in names:
            for way in ways.values():
                for _ in range(WARMUP):
                    way(page)
        samples = {(page, way): [] for page in names for way in ways}
        rng = random.Random(20241130)
        for _ in range(args.repeat):
            for page in names:
                order = list(ways)
                rng.shuffle(order)
                for way in order:
                    samples[(page, way)].append(_timed(lambda: ways[way](page)))
        result = {"database": urls["large"].split(":")[0].split("+")[0], "units_small": SMALL_UNITS,
                  "units_large": args.units, "budget_units_large": large.ids["finance_subtree_units"],
                  "repeat": args.repeat, "build_seconds": small.build_seconds + large.build_seconds}
        for page in names:
            s, l_, f = (summary(samples[(page, way)]) for way in ("small", "large", "floor"))
            result.update({
                f"{page}_small_p95_ms": s["p95"], f"{page}_p95_ms": l_["p95"], f"{page}_p50_ms": l_["p50"],
                f"{page}_growth": round(l_["p95"] / s["p95"], 2),
                # p95 of 50 on a busy 2-core machine is the scheduler's as much as the page's
                f"{page}_small_p50_ms": s["p50"], f"{page}_growth_p50": round(l_["p50"] / s["p50"], 2),
                f"{page}_floor_p50_ms": f["p50"], f"{page}_floor_ratio": round(l_["p50"] / f["p50"], 2),
                f"{page}_statements": large.statements(page),
            })
        result.update({"load_average_start": round(load_start, 2), "load_average_end": round(os.getloadavg()[0], 2),
                       "peak_rss_mb": peak_rss_mb()})
        for site in (small, large):
            with site.app.app_context():
                db.session.remove()
                db.engine.dispose()
        return result
    finally:
        _drop_databases(args, urls)
        shutil.rmtree(workdir, ignore_errors=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--units", type=int, default=20_000, help="budget units under the superior, large database")
    parser.add_argument("--repeat", type=int, default=50, help="requests per page and size after the warm-up")
    parser.add_argument("--database-url", help="PostgreSQL: <name>_small and <name>_large are made and dropped")
    parser.add_argument("--pages", help="comma-separated page names (default: all)")
    args = parser.parse_args(argv)
    print(json.dumps(run(args), ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
