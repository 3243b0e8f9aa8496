"""Records benchmark: the demo tree with 10,000 and with N purchase records, every page a person
lands on timed through the whole app, against the bare stack on the same database.

    python -m bench.records                  # 1,000,000 records on SQLite in a temporary folder
    python -m bench.records --quick          # 20,000 records
    python -m bench.records --database-url postgresql+psycopg://postgres@127.0.0.1/portal_bench
                                             # and portal_bench_small beside it, created if missing

Each timing is a whole request through Flask (routing, login session, ORM query, template) as a
logged-in person, in-process. Both databases and the floor (bench/floor.py: Flask, SQLAlchemy Core
and Jinja alone over the large database) are timed in one loop, one request of each in turn, so
that the growth ratio (p95 at N ÷ p95 at 10,000) and the floor ratio (p50 ÷ the floor's p50)
compare requests made under the same load. The last line printed is one JSON object.
"""
import argparse
import json
import os
import random
import sys
import tempfile
import time
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import String, cast, create_engine, delete, func, insert, literal, select, text
from sqlalchemy.engine import make_url

from bench.common import logged_in_client, peak_rss_mb, reset_to_demo, summary
from bench.floor import floor_app
from portal import create_app
from portal.accounts.models import Account, Unit
from portal.clock import utcnow
from portal.extensions import db
from portal.records import breakdowns, rules
from portal.records.models import PurchaseRecord, QueueCounter, RecordTotal, ReportingPeriod
from portal.reference.models import DictionaryEntry, Region

#: 广州 market's first merchant (demo): a filing unit with 5 % of all records besides its share as one
#: of the 22 filers (about 96,000 of a million), whose home page must cost what a small unit's does
HEAVY_FILER = "13800001012"
HEAVY_SHARE = 0.05
CHUNK = 20_000
#: share of records by status: most are approved, a fifth wait for their city
STATUS_WEIGHTS = [("approved", 70), ("submitted", 20), ("filed", 4), ("returned", 3), ("draft", 3)]


def _filer(unit, accounts):
    return (unit.id, rules.channel_of(unit), rules.first_reviewer_of(unit), rules.city_scope_of(unit),
            unit.city_code, accounts[unit.id])


def _context():
    filers = db.session.scalars(select(Unit).where(Unit.kind.in_([k.value for k in rules.FILER_KINDS]))).all()
    counties = [(r.code, r.parent_code, r.helper_city_code)
                for r in db.session.scalars(select(Region).where(Region.level == "county"))]
    by_code = {r.code: r.parent_code for r in db.session.scalars(select(Region))}
    paired = {}
    for county in counties:
        paired.setdefault(county[2], []).append(county)
    accounts = {a.unit_id: a.id for a in db.session.scalars(select(Account))}
    heavy = db.session.scalar(select(Account.unit_id).where(Account.with_phone(HEAVY_FILER)))
    return {
        "heavy": _filer(next(u for u in filers if u.id == heavy), accounts),
        "filers": [_filer(u, accounts) for u in filers],
        "counties": counties, "paired": paired, "regions": by_code,
        "periods": db.session.scalars(select(ReportingPeriod.id)).all(),
        "categories": db.session.scalars(select(DictionaryEntry.id).where(DictionaryEntry.kind == "category")).all(),
        "units": db.session.scalars(select(DictionaryEntry.id).where(DictionaryEntry.kind == "measure_unit")).all(),
    }


def _rows(count, rng, ctx, now):
    statuses = [s for s, w in STATUS_WEIGHTS for _ in range(w)]
    for _ in range(count):
        filer = ctx["heavy"] if rng.random() < HEAVY_SHARE else rng.choice(ctx["filers"])
        unit_id, channel, first_reviewer, scope, city_code, account_id = filer
        local = ctx["paired"].get(city_code)
        county_code, city_code_west, _ = rng.choice(local) if local and rng.random() < 0.8 \
            else rng.choice(ctx["counties"])
        status = rng.choice(statuses)
        if status == "filed" and first_reviewer is None:
            status = "submitted"
        submitted = now - timedelta(minutes=rng.randrange(1, 400_000))
        quantity = Decimal(rng.randrange(1, 5000)) / 10
        yield {
            "unit_id": unit_id, "created_by_id": account_id, "channel": channel,
            "first_reviewer_id": first_reviewer, "city_scope": scope, "period_id": rng.choice(ctx["periods"]),
            "direct_from_origin": rng.random() < 0.6,
            "origin_province_code": ctx["regions"][city_code_west], "origin_city_code": city_code_west,
            "origin_county_code": county_code,
            "category_id": rng.choice(ctx["categories"]), "measure_unit_id": rng.choice(ctx["units"]),
            "product_name": rng.choice(["大米", "百香果", "茶叶", "黑毛猪肉", "香菇", "山茶油", "芒果", "土鸡蛋"]),
            "quantity": quantity, "amount": (quantity * Decimal(rng.randrange(500, 20000)) / 10).quantize(Decimal("0.01")),
            "status": status, "version": 2, "flags": "", "created_at": submitted, "updated_at": submitted,
            "submitted_at": None if status == "draft" else submitted,
            "reached_city_at": submitted if status in ("submitted", "approved") or
            (status == "returned" and first_reviewer is None) else None,
            "approved_at": submitted if status == "approved" else None,
        }


def add_records(count, rng, ctx):
    now = utcnow()
    batch = []
    for row in _rows(count, rng, ctx, now):
        batch.append(row)
        if len(batch) == CHUNK:
            db.session.execute(insert(PurchaseRecord.__table__), batch)
            db.session.commit()
            batch = []
    if batch:
        db.session.execute(insert(PurchaseRecord.__table__), batch)
        db.session.commit()
    rebuild_summaries()


def rebuild_summaries():
    """What the workflow keeps up to date one transition at a time, rebuilt in bulk."""
    record = PurchaseRecord
    db.session.execute(delete(RecordTotal))
    db.session.execute(delete(QueueCounter))
    db.session.execute(insert(RecordTotal).from_select(
        ["period_id", "city_scope", "channel", "origin_county_code", "category_id", "record_count", "amount"],
        select(record.period_id, record.city_scope, record.channel, record.origin_county_code, record.category_id,
               func.count(), func.sum(record.amount)).where(record.status == "approved")
        .group_by(record.period_id, record.city_scope, record.channel, record.origin_county_code, record.category_id)))
    breakdowns.rebuild()
    db.session.execute(insert(QueueCounter).from_select(
        ["key", "count"], select(literal("city:") + record.city_scope, func.count())
        .where(record.status == "submitted").group_by(record.city_scope)))
    db.session.execute(insert(QueueCounter).from_select(
        ["key", "count"], select(literal("first:") + cast(record.first_reviewer_id, String), func.count())
        .where(record.status == "filed").group_by(record.first_reviewer_id)))
    db.session.execute(insert(QueueCounter).from_select(
        ["key", "count"], select(literal("unit:") + cast(record.unit_id, String) + ":" + record.status, func.count())
        .group_by(record.unit_id, record.status)))
    db.session.commit()
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("ANALYZE"))
        db.session.commit()
    else:
        db.session.execute(text("ANALYZE"))


def pending_ids(scope):
    return db.session.scalars(select(PurchaseRecord.id).where(
        PurchaseRecord.city_scope == scope, PurchaseRecord.status == "submitted").order_by(PurchaseRecord.id)).all()


def _get(client, url):
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)


def _database_urls(args, workdir):
    """(small, large): two SQLite files, or the given PostgreSQL database and a sibling
    `<name>_small` created beside it."""
    if not args.database_url:
        return f"sqlite:///{workdir}/small.sqlite3", f"sqlite:///{workdir}/large.sqlite3"
    large = make_url(args.database_url)
    small = large.set(database=f"{large.database}_small")
    with create_engine(large.set(database="postgres"), isolation_level="AUTOCOMMIT").connect() as server:
        for url in (small, large):
            if not server.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": url.database}):
                server.execute(text(f'CREATE DATABASE "{url.database}"'))
    return small.render_as_string(hide_password=False), large.render_as_string(hide_password=False)


class Side:
    """One database of the run: the portal over it, its people logged in, what the timings act on."""

    def __init__(self, url, workdir, records, rng):
        self.app = create_app({"SQLALCHEMY_DATABASE_URI": url, "PORTAL_INSTANCE": workdir,
                               "SMS_LIMIT_PER_MINUTE": 100, "SMS_LIMIT_PER_HOUR": 100, "SMS_LIMIT_PER_DAY": 100,
                               "RATELIMIT_ENABLED": False, "LOGIN_CAPTCHA": "off"})
        # Requests run outside any app context of ours: each gets its own, as in production
        # (a shared one would share flask.g, and with it a stale CSRF token).
        with self.app.app_context():
            reset_to_demo()
            db.session.commit()
            add_records(records, rng, _context())
            self.pending = pending_ids("440100")
            self.versions = dict(db.session.execute(select(PurchaseRecord.id, PurchaseRecord.version).where(
                PurchaseRecord.city_scope == "440100", PurchaseRecord.status == "submitted")).all())
            self.heavy_records = db.session.scalar(select(func.count()).select_from(PurchaseRecord).where(
                PurchaseRecord.unit_id == _context()["heavy"][0]))
            self.summary_rows = db.session.scalar(select(func.count()).select_from(RecordTotal))
            self.units = {role: db.session.scalar(select(Account.unit_id).where(Account.with_phone(phone)))
                          for role, phone in ROLES.items()}
        self.clients = {role: logged_in_client(self.app, phone) for role, phone in ROLES.items()}
        # approvals take records from the middle of the queue, never the first page timed
        self.to_approve = iter(self.pending[len(self.pending) // 2:])

    def get(self, role, url):
        return lambda: _get(self.clients[role][0], url)

    def approve(self):
        client, token = self.clients["city_reviewer"]
        record_id = next(self.to_approve)
        response = client.post(f"/reviews/{record_id}/act", headers={"HX-Request": "true", "X-CSRFToken": token},
                               data={"decision": "approve", "version": self.versions[record_id]})
        assert response.status_code == 200, response.get_data(as_text=True)[:300]


#: the people whose pages are timed (demo accounts; none needs the administrators' second factor):
#: 广州's city reviewer, the province office's reviewer (staff), the merchant with 5 % of all
#: records, and 广州's market (files its own records and reviews its merchants')
ROLES = {"city_reviewer": "13800001002", "province_reader": "13800000002", "heavy_filer": HEAVY_FILER,
         "market_admin": "13800001011"}


def _pages(side):
    """Every page timed at both sizes: name → the request."""
    detail = side.pending[len(side.pending) // 3]
    return {
        "queue_first_page": side.get("city_reviewer", "/reviews/"),
        "queue_last_page": side.get("city_reviewer", f"/reviews/?before={side.pending[50]}"),
        "detail": side.get("city_reviewer", f"/records/{detail}"),
        "totals": side.get("province_reader", "/reports/"),
        "dashboard": side.get("province_reader", "/dashboard"),
        "home_city_reviewer": side.get("city_reviewer", "/"),
        "home_province": side.get("province_reader", "/"),
        "home_heavy_filer": side.get("heavy_filer", "/"),
        "home_market": side.get("market_admin", "/"),
        "approve": side.approve,
    }


def _floor_calls(floor_client, side):
    detail = side.pending[len(side.pending) // 3]
    to_approve = iter(side.pending[len(side.pending) // 4:])
    return {
        "queue_first_page": lambda: _get(floor_client, "/queue/440100"),
        "detail": lambda: _get(floor_client, f"/records/{detail}"),
        "totals": lambda: _get(floor_client, "/totals"),
        "dashboard": lambda: _get(floor_client, "/dashboard"),
        "home": lambda: _get(floor_client, f"/home/{side.units['market_admin']}"),
        "approve": lambda: floor_client.post(f"/records/{next(to_approve)}/approve"),
    }


def interleaved(calls, repeat, warmup=3):
    """Time every call of `calls` (name → callable) `repeat` times, one of each in turn, so that a
    busy machine slows all of them alike; name → durations in milliseconds."""
    for call in calls.values():
        for _ in range(warmup):
            call()
    durations = {name: [] for name in calls}
    for _ in range(repeat):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            durations[name].append((time.perf_counter() - start) * 1000)
    return durations


def run(args):
    workdir = tempfile.mkdtemp(prefix="bench-records-")
    small_url, large_url = _database_urls(args, workdir)
    rng = random.Random(20241)
    load_start = os.getloadavg()[0]
    started = time.perf_counter()
    small = Side(small_url, f"{workdir}/small", min(SMALL, args.records), rng)
    large = Side(large_url, f"{workdir}/large", args.records, rng)
    build_seconds = time.perf_counter() - started
    floor = floor_app(large_url).test_client()

    calls = {}
    for name, call in _pages(small).items():
        calls[f"{name}@small"] = call
    for name, call in _pages(large).items():
        calls[name] = call
    for name, call in _floor_calls(floor, large).items():
        calls[f"{name}@floor"] = call
    timings = {name: summary(samples) for name, samples in interleaved(calls, args.repeat).items()}

    result = {"records": args.records, "small_records": min(SMALL, args.records),
              "database": large_url.split(":")[0].split("+")[0], "build_seconds": round(build_seconds, 1),
              "queue_pending_rows": len(large.pending), "record_total_rows": large.summary_rows,
              "heavy_filer_records": large.heavy_records}
    for name in _pages(large):
        result[f"{name}_p50_ms"] = timings[name]["p50"]
        result[f"{name}_p95_ms"] = timings[name]["p95"]
        result[f"{name}_growth"] = round(timings[name]["p95"] / timings[f"{name}@small"]["p95"], 2)
    for page, floor_name in FLOOR_OF.items():
        result[f"{page}_floor_ratio"] = round(timings[page]["p50"] / timings[f"{floor_name}@floor"]["p50"], 2)
    result["floor_p50_ms"] = {name.split("@")[0]: timings[name]["p50"] for name in timings if name.endswith("@floor")}
    result["load_average"] = [round(load_start, 2), round(os.getloadavg()[0], 2)]
    result["peak_rss_mb"] = peak_rss_mb()
    return result


#: the product's page → the floor route it is compared with
FLOOR_OF = {"queue_first_page": "queue_first_page", "detail": "detail", "approve": "approve", "totals": "totals",
            "dashboard": "dashboard", "home_city_reviewer": "home", "home_province": "home",
            "home_heavy_filer": "home", "home_market": "home"}
SMALL = 10_000


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="20,000 records")
    parser.add_argument("--repeat", type=int, default=50, help="requests per timing")
    parser.add_argument("--database-url", help="default: two temporary SQLite files")
    args = parser.parse_args(argv)
    if args.quick:
        args.records = 20_000
    result = run(args)
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
