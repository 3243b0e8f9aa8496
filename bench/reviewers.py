"""Concurrent reviewers: twenty reviewers of one city approving at once against twenty reviewers
spread over twenty cities, on PostgreSQL (row locks are what is measured; SQLite lets one writer
at a time whatever the rows).

    python -m bench.reviewers --database-url postgresql+psycopg://postgres@127.0.0.1/portal_bench_reviewers

The demo province gets sixteen more city offices (twenty in all), each with a reviewer and an
e-commerce platform that files, nineteen more reviewers in 广州, and N records. Then each
reviewer approves its own share of its city's waiting records through the app, twenty threads
at once, for --seconds, in rounds: spread, one city, spread, one city. The last line is one JSON
object: approvals per second each way, their ratio (target ≥ 0.8), the answers that were not a
success (a conflict a person would see included), and whether the counters are still exact.
"""
import argparse
import json
import os
import random
import sys
import tempfile
import threading
import time

from sqlalchemy import func, select

from bench.common import logged_in_client, peak_rss_mb, reset_to_demo
from bench.records import _context, add_records
from portal import create_app
from portal.accounts import service
from portal.accounts.kinds import UnitKind
from portal.accounts.models import Account, Unit
from portal.extensions import db
from portal.records.models import PurchaseRecord, QueueCounter
from portal.reference.models import GuangdongCity

REVIEWERS = 20
PROVINCE_OFFICE_ADMIN = "13800000001"
GUANGZHOU = "440100"


def _open_cities():
    """Twenty city offices with a reviewer and a filing platform each; 广州 with twenty reviewers.
    Returns {city code: [reviewer phones]}."""
    province = db.session.scalar(select(Account).where(Account.with_phone(PROVINCE_OFFICE_ADMIN)))
    offices = {u.city_code: u for u in db.session.scalars(select(Unit).where(Unit.kind == UnitKind.CITY_OFFICE))}
    cities = db.session.scalars(select(GuangdongCity.code).order_by(GuangdongCity.code)).all()
    reviewers = {}
    for index, code in enumerate(cities[:REVIEWERS]):
        prefix = f"1380{index + 10:02d}"  # 11 digits below
        office = offices.get(code)
        if office is None:
            office = service.open_unit(province, kind=UnitKind.CITY_OFFICE, name=f"{code}协作办", contact_name="主任",
                                       phone=f"{prefix}00001", city_code=code)
            service.open_unit(office.accounts[0], kind=UnitKind.ECOMMERCE, name=f"{code}电商平台", contact_name="运营",
                              phone=f"{prefix}00031")
        admin = next(a for a in office.accounts if a.is_admin)
        count = REVIEWERS if code == GUANGZHOU else 1
        reviewers[code] = []
        for number in range(count):
            phone = f"{prefix}{number + 100:05d}"
            service.add_account(admin, office, contact_name=f"审核员{number + 1}", phone=phone)
            reviewers[code].append(phone)
    db.session.commit()
    return reviewers


def _waiting(scope):
    return db.session.execute(select(PurchaseRecord.id, PurchaseRecord.version).where(
        PurchaseRecord.city_scope == scope, PurchaseRecord.status == "submitted").order_by(PurchaseRecord.id)).all()


def _approve_for(client, token, todo, deadline, tally):
    approved = failed = 0
    for record_id, version in todo:
        if time.perf_counter() > deadline:
            break
        response = client.post(f"/reviews/{record_id}/act", headers={"HX-Request": "true", "X-CSRFToken": token},
                               data={"decision": "approve", "version": version})
        if response.status_code == 200:
            approved += 1
        else:
            failed += 1
    with tally["lock"]:
        tally["approved"] += approved
        tally["failed"] += failed


def _round(people, seconds):
    """Each (client, token, records) approves its records until the time is up; approvals/s."""
    tally = {"lock": threading.Lock(), "approved": 0, "failed": 0}
    deadline = time.perf_counter() + seconds
    started = time.perf_counter()
    threads = [threading.Thread(target=_approve_for, args=(client, token, todo, deadline, tally))
               for client, token, todo in people]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return tally["approved"] / (time.perf_counter() - started), tally["failed"]


def _counters_exact():
    live = dict(db.session.execute(select(PurchaseRecord.city_scope, func.count()).where(
        PurchaseRecord.status == "submitted").group_by(PurchaseRecord.city_scope)).all())
    kept = {key.split(":")[1]: count for key, count in db.session.execute(select(QueueCounter.key, QueueCounter.count)
                                                                          .where(QueueCounter.key.startswith("city:")))}
    return all(kept.get(scope, 0) == count for scope, count in live.items())


def run(args):
    workdir = tempfile.mkdtemp(prefix="bench-reviewers-")
    url = args.database_url or f"sqlite:///{workdir}/bench.sqlite3"
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "PORTAL_INSTANCE": workdir, "SMS_LIMIT_PER_MINUTE": 1000,
                      "SMS_LIMIT_PER_HOUR": 1000, "SMS_LIMIT_PER_DAY": 1000, "RATELIMIT_ENABLED": False,
                      "LOGIN_CAPTCHA": "off", "SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": REVIEWERS + 5}})
    load_start = os.getloadavg()[0]
    with app.app_context():
        reset_to_demo()
        db.session.commit()
        reviewers = _open_cities()
        add_records(args.records, random.Random(20241), _context())
        waiting = {scope: _waiting(scope) for scope in reviewers}
    clients = {phone: logged_in_client(app, phone) for phones in reviewers.values() for phone in phones}
    spread = [(code, phones[0]) for code, phones in reviewers.items()]
    one_city = [(GUANGZHOU, phone) for phone in reviewers[GUANGZHOU]]
    # Each reviewer's own slice of its city's queue: nobody reaches for a record another one took.
    queues = {code: iter(rows) for code, rows in waiting.items()}
    # enough for 200 approvals a second, as far as 广州's queue goes
    per_round = min(args.seconds * 200 // REVIEWERS + 50, len(waiting[GUANGZHOU]) // (args.rounds * (REVIEWERS + 1)),
                    min(len(rows) for rows in waiting.values()) // args.rounds)

    def people(assignments):
        return [(*clients[phone], [next(queues[code]) for _ in range(per_round)]) for code, phone in assignments]

    rates = {"spread": [], "one_city": []}
    failures = 0
    for _ in range(args.rounds):
        for name, assignments in (("spread", spread), ("one_city", one_city)):
            rate, failed = _round(people(assignments), args.seconds)
            rates[name].append(rate)
            failures += failed
    with app.app_context():
        exact = _counters_exact()
    spread_rate, one_city_rate = (sorted(rates[n])[len(rates[n]) // 2] for n in ("spread", "one_city"))
    return {"database": url.split(":")[0].split("+")[0], "records": args.records, "reviewers": REVIEWERS,
            "seconds_per_round": args.seconds, "rounds": args.rounds,
            "spread_approvals_per_s": round(spread_rate, 1), "one_city_approvals_per_s": round(one_city_rate, 1),
            "one_city_vs_spread": round(one_city_rate / spread_rate, 2), "rates": {name: [round(rate, 1) for rate in values] for name, values in rates.items()},
            "records_per_reviewer_and_round": per_round, "failed_answers": failures,
            "counters_exact": exact, "load_average": [round(load_start, 2), round(os.getloadavg()[0], 2)],
            "peak_rss_mb": peak_rss_mb()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", help="PostgreSQL (default: a temporary SQLite file, which serialises writers)")
    parser.add_argument("--records", type=int, default=300_000)
    parser.add_argument("--seconds", type=int, default=15, help="length of each round")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of each kind, alternating")
    args = parser.parse_args(argv)
    result = run(args)
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
