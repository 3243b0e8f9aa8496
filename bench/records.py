"""Records benchmark: the demo tree with N purchase records, timed through the whole app.

    python -m bench.records                  # 1,000,000 records on SQLite in a temporary folder
    python -m bench.records --quick          # 20,000 records
    python -m bench.records --database-url postgresql+psycopg://postgres@127.0.0.1/portal_bench

Each timing is a whole request through Flask (routing, ORM query, template) as a
logged-in reviewer, in-process. The last line printed is one JSON object.
"""
import argparse
import json
import random
import sys
import tempfile
import time
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import String, cast, delete, func, insert, literal, select, text

from bench.common import logged_in_client, peak_rss_mb, reset_to_demo, summary, timed
from portal import create_app
from portal.accounts.models import Account, Unit
from portal.clock import utcnow
from portal.extensions import db
from portal.records import rules
from portal.records.models import PurchaseRecord, QueueCounter, RecordMonthTotal, RecordTotal, ReportingPeriod
from portal.records.totals import approval_month
from portal.reference.models import DictionaryEntry, Region

CITY_REVIEWER = "13800001002"   # 广州市东西部协作办公室, 审核员 (demo)
# 广东省东西部协作办公室's reviewer (demo): the totals as the province reads them; a staff account,
# which logs in without the second factor the office's administrator needs
PROVINCE_READER = "13800000002"
CHUNK = 20_000
#: share of records by status: most are approved, a fifth wait for their city
STATUS_WEIGHTS = [("approved", 70), ("submitted", 20), ("filed", 4), ("returned", 3), ("draft", 3)]


def _context():
    filers = db.session.scalars(select(Unit).where(Unit.kind.in_([k.value for k in rules.FILER_KINDS]))).all()
    counties = [(r.code, r.parent_code, r.helper_city_code)
                for r in db.session.scalars(select(Region).where(Region.level == "county"))]
    by_code = {r.code: r.parent_code for r in db.session.scalars(select(Region))}
    paired = {}
    for county in counties:
        paired.setdefault(county[2], []).append(county)
    accounts = {a.unit_id: a.id for a in db.session.scalars(select(Account))}
    return {
        "filers": [(u.id, rules.channel_of(u), rules.first_reviewer_of(u), rules.city_scope_of(u),
                    u.city_code, accounts[u.id]) for u in filers],
        "counties": counties, "paired": paired, "regions": by_code,
        "periods": db.session.scalars(select(ReportingPeriod.id)).all(),
        "categories": db.session.scalars(select(DictionaryEntry.id).where(DictionaryEntry.kind == "category")).all(),
        "units": db.session.scalars(select(DictionaryEntry.id).where(DictionaryEntry.kind == "measure_unit")).all(),
    }


def _rows(count, rng, ctx, now):
    statuses = [s for s, w in STATUS_WEIGHTS for _ in range(w)]
    for _ in range(count):
        unit_id, channel, first_reviewer, scope, city_code, account_id = rng.choice(ctx["filers"])
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
    db.session.execute(delete(RecordMonthTotal))
    month = approval_month()
    db.session.execute(insert(RecordMonthTotal).from_select(
        ["month", "city_scope", "channel", "origin_county_code", "record_count", "amount"],
        select(month, record.city_scope, record.channel, record.origin_county_code, func.count(), func.sum(record.amount))
        .where(record.status == "approved").group_by(month, record.city_scope, record.channel,
                                                     record.origin_county_code)))
    db.session.execute(insert(QueueCounter).from_select(
        ["key", "count"], select(literal("city:") + record.city_scope, func.count())
        .where(record.status == "submitted").group_by(record.city_scope)))
    db.session.execute(insert(QueueCounter).from_select(
        ["key", "count"], select(literal("first:") + cast(record.first_reviewer_id, String), func.count())
        .where(record.status == "filed").group_by(record.first_reviewer_id)))
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


def run(args):
    workdir = tempfile.mkdtemp(prefix="bench-records-")
    url = args.database_url or f"sqlite:///{workdir}/bench.sqlite3"
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "PORTAL_INSTANCE": workdir, "SMS_LIMIT_PER_MINUTE": 100,
                      "SMS_LIMIT_PER_HOUR": 100, "SMS_LIMIT_PER_DAY": 100, "RATELIMIT_ENABLED": False,
                      "LOGIN_CAPTCHA": "off"})
    rng = random.Random(20241)
    result = {"records": args.records, "database": url.split(":")[0].split("+")[0]}
    # Requests run outside any app context of ours: each gets its own, as in production
    # (a shared one would share flask.g, and with it a stale CSRF token).
    with app.app_context():
        reset_to_demo()
        db.session.commit()
        ctx = _context()
        small = min(10_000, args.records)
        started = time.perf_counter()
        add_records(small, rng, ctx)
    city_client, token = logged_in_client(app, CITY_REVIEWER)
    queue_small = timed(lambda: _get(city_client, "/reviews/"), args.repeat)
    province_client, _ = logged_in_client(app, PROVINCE_READER)
    dashboard_small = timed(lambda: _get(province_client, "/dashboard"), args.repeat)
    with app.app_context():
        add_records(args.records - small, rng, ctx)
        result["build_seconds"] = round(time.perf_counter() - started, 1)
        ids = pending_ids("440100")
        chosen = ids[len(ids) // 2: len(ids) // 2 + args.repeat]
        versions = dict(db.session.execute(select(PurchaseRecord.id, PurchaseRecord.version)
                                           .where(PurchaseRecord.id.in_(chosen))).all())

    first = timed(lambda: _get(city_client, "/reviews/"), args.repeat)
    last_page_key = ids[50]
    last = timed(lambda: _get(city_client, f"/reviews/?before={last_page_key}"), args.repeat)
    targets = iter(chosen)

    def approve_one():
        record_id = next(targets)
        response = city_client.post(f"/reviews/{record_id}/act", headers={"HX-Request": "true", "X-CSRFToken": token},
                                    data={"decision": "approve", "version": versions[record_id]})
        assert response.status_code == 200, response.get_data(as_text=True)[:300]

    approve = timed(approve_one, args.repeat, warmup=0)
    totals = timed(lambda: _get(province_client, "/reports/"), args.repeat)
    dashboard = timed(lambda: _get(province_client, "/dashboard"), args.repeat)
    with app.app_context():
        summary_rows = db.session.scalar(select(func.count()).select_from(RecordTotal))

    result.update({
        "queue_pending_rows": len(ids),
        "record_total_rows": summary_rows,
        "queue_first_page_p95_ms": summary(first)["p95"],
        "queue_first_page_p50_ms": summary(first)["p50"],
        "queue_last_page_p95_ms": summary(last)["p95"],
        "approve_p95_ms": summary(approve)["p95"],
        "province_totals_p95_ms": summary(totals)["p95"],
        "queue_10k_p95_ms": summary(queue_small)["p95"],
        "queue_p95_ratio_1m_vs_10k": round(summary(first)["p95"] / summary(queue_small)["p95"], 2),
        "dashboard_10k_p95_ms": summary(dashboard_small)["p95"],
        "dashboard_p95_ms": summary(dashboard)["p95"],
        "dashboard_p95_ratio_1m_vs_10k": round(summary(dashboard)["p95"] / summary(dashboard_small)["p95"], 2),
        "peak_rss_mb": peak_rss_mb(),
    })
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="20,000 records")
    parser.add_argument("--repeat", type=int, default=50, help="requests per timing")
    parser.add_argument("--database-url", help="default: a temporary SQLite file")
    args = parser.parse_args(argv)
    if args.quick:
        args.records = 20_000
    result = run(args)
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
