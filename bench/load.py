"""Load bench: the portal under gunicorn on PostgreSQL and Redis, driven over loopback HTTP by
Locust with the deadline-day scenario (bench/load_scenario.py), as issue 13 asks.

    make bench                                   # once: Locust into .venv (requirements-bench.lock)
    .venv/bin/python -m bench.load               # 1,000 people, think 4 s, 60 s timed
    .venv/bin/python -m bench.load --users 150 --think 0          # the mix without pauses
    .venv/bin/python -m bench.load --workers 2 --worker-class gthread --threads 8 --keep
    .venv/bin/python -m bench.load --fault db-restart             # its own cluster, restarted midway
    .venv/bin/python -m bench.load --quick                        # 100 people, 20 s, 20,000 records

The server runs as production runs it (bench/load_server.py): `gunicorn app:app` with
gunicorn.conf.py and `flask worker --kinds sms,sheet`, PORTAL_ENV=production with keys of the
bench's own, Redis db 9. People log in through the real SMS-code flow before the timed phase.
The database is portal_bench_load on 127.0.0.1 (made and dropped by the bench; --keep keeps it,
its keys and its people's sessions for the next run, which then skips the build), or
--database-url. The timed phase starts when every person has started; the CPU of the gunicorn
workers, the job worker, PostgreSQL and Locust itself are read from /proc at its start and end.
Afterwards every write that was answered with success is looked up (lost_writes). The last line
printed is one JSON object.
"""
import argparse
import json
import random
import runpy
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg
import redis
from sqlalchemy.engine import make_url

from bench import load_data
from bench.common import percentile
from bench.load_server import (
    ROOT, Portal, SmsGateway, cpu_snapshot, cpu_spent, free_port, in_parallel, load_average, log_in, new_keys,
    postgres_pids, rss_mb, server_environment, still_logged_in,
)

DEFAULT_DATABASE = "postgresql+psycopg://postgres@127.0.0.1/portal_bench_load"
#: the people of the day, by share of --users: filers, department heads, finance staff, reviewers, province
SHARES = {"budget": 0.60, "superior": 0.10, "finance": 0.04, "reviewer": 0.20, "province": 0.06}


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=1000, help="simulated people")
    parser.add_argument("--think", type=float, default=4.0, help="mean seconds between a person's steps; 0: none")
    parser.add_argument("--duration", type=float, default=60, help="seconds of the timed phase")
    parser.add_argument("--spawn-rate", type=float, default=100, help="people started per second")
    parser.add_argument("--warmup", type=float, default=15,
                        help="seconds between the last person's start and the timed phase (the workers' first "
                             "renders compile templates and queries)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers (WEB_CONCURRENCY)")
    parser.add_argument("--worker-class", default=None, help="gunicorn worker class (default: gunicorn.conf.py's)")
    parser.add_argument("--threads", type=int, default=None, help="threads per worker (gthread)")
    parser.add_argument("--records", type=int, help="purchase records built (1,000,000; --fault: 100,000)")
    parser.add_argument("--fault", choices=["db-restart"], help="restart PostgreSQL halfway through")
    parser.add_argument("--database-url", help=f"default: {DEFAULT_DATABASE}, made by the bench")
    parser.add_argument("--keep", action="store_true", help="keep the database, keys and sessions for the next run")
    parser.add_argument("--quick", action="store_true", help="100 people, 20 s, 20,000 records")
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="cProfile every request in the workers (bench/load_profile.py); the summary in "
                             "DIR/profile.txt")
    args = parser.parse_args(argv)
    if args.quick:
        args.users, args.duration, args.records, args.warmup = 100, 20, 20_000, 5
    args.records = args.records or (100_000 if args.fault else 1_000_000)
    if args.worker_class == "sync" and args.threads is None:
        args.threads = 1  # gunicorn turns sync workers with threads (gunicorn.conf.py's 2) into gthread
    if args.fault and (args.keep or args.database_url):
        parser.error("--fault runs on a cluster of its own, made and removed by the bench")
    return args


def allocate(users, available):
    """People per role: the shares of `users`, within the accounts the data has."""
    people = {role: round(users * share) for role, share in SHARES.items()}
    people["budget"] = users - sum(count for role, count in people.items() if role != "budget")
    return {role: min(count, len(available[_pool_key(role)])) for role, count in people.items()}


def _pool_key(role):
    return {"budget": "drafts", "superior": "superiors", "finance": "finance", "reviewer": "reviewers",
            "province": "readers"}[role]


def prepare_database(url, keep):
    """Create the bench's database on its server unless --keep found it there."""
    parts = make_url(url)
    with psycopg.connect(host=parts.host, port=parts.port or 5432, user=parts.username, dbname="postgres",
                         autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (parts.database,)).fetchone()
        if exists and not keep:
            conn.execute(f'DROP DATABASE "{parts.database}" WITH (FORCE)')
        if not exists or not keep:
            conn.execute(f'CREATE DATABASE "{parts.database}"')


def drop_database(url):
    parts = make_url(url)
    with psycopg.connect(host=parts.host, port=parts.port or 5432, user=parts.username, dbname="postgres",
                         autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{parts.database}" WITH (FORCE)')


def state_folder(url, keep):
    """Keys, instance folder, logs and sessions of one database, kept with it under --keep."""
    parts = make_url(url)
    folder = Path(tempfile.gettempdir()) / f"portal-bench-load-{parts.host}-{parts.port or 5432}-{parts.database}"
    if not keep:
        shutil.rmtree(folder, ignore_errors=True)
    (folder / "instance").mkdir(parents=True, exist_ok=True)
    keys_file = folder / "keys.json"
    if not keys_file.exists():
        keys_file.write_text(json.dumps(new_keys()))
    return folder, json.loads(keys_file.read_text())


def bench_app(url, folder, keys):
    from portal import create_app

    return create_app({"SQLALCHEMY_DATABASE_URI": url, "PORTAL_INSTANCE": str(folder / "instance"),
                       "RATELIMIT_ENABLED": False, **keys})


def sessions_for(app, portal, gateway, folder, phones):
    """A logged-in session cookie per person: kept ones that still answer, new logins for the rest."""
    saved_file = folder / "sessions.json"
    saved = json.loads(saved_file.read_text()) if saved_file.exists() else {}
    kept = [p for p in phones if p in saved]
    alive = {p for p, ok in zip(kept, in_parallel(lambda p: still_logged_in(portal.url, saved[p]), kept)) if ok}
    missing = [p for p in phones if p not in alive]
    started = time.perf_counter()
    fresh = dict(zip(missing, in_parallel(lambda p: log_in(app, portal.url, gateway, p), missing)))
    login_seconds = time.perf_counter() - started
    sessions = {**saved, **fresh}
    saved_file.write_text(json.dumps(sessions))
    return {p: sessions[p] for p in phones}, len(fresh), login_seconds


def drafts_needed(args, budget_people, drafts):
    """How many units the filers can reach in the run: a filing takes 8 pauses and ~17 requests."""
    filing_s = 8 * args.think + 17 * 0.05
    runs = 1 + (args.duration + args.users / args.spawn_rate) / filing_s
    return min(len(drafts), int(budget_people * runs) + 1)


def drive(config, portal, cluster, fault_at):
    """Run the Locust process; read /proc at TIMED START and END; restart the database at
    fault_at seconds into the timed phase. The figures the parent measured, as a dict."""
    child = subprocess.Popen([sys.executable, "-m", "bench.load_scenario", config["file"]], cwd=ROOT,
                             stdout=subprocess.PIPE, text=True)
    measured, restart = {}, {}

    def restart_database():
        restart["stopped"], restart["back"] = cluster.restart()

    def processes():
        return {"web": portal.worker_pids(), "jobs": [portal.jobs.pid], "postgres": postgres_pids(config["database"]),
                "locust": [child.pid]}

    before = None
    for line in child.stdout:
        if line.startswith("TIMED START"):
            before = {name: cpu_snapshot(pids) for name, pids in processes().items()}
            measured.update(started=float(line.split()[2]), load_start=load_average())
            if fault_at is not None:
                threading.Timer(fault_at, restart_database).start()
        elif line.startswith("TIMED END"):
            after = {name: cpu_snapshot(pids) for name, pids in processes().items()}
            measured.update(ended=float(line.split()[2]), load_end=load_average(),
                            cpu={name: cpu_spent(before[name], after[name]) for name in after},
                            rss=[rss_mb(pid) for pid in portal.worker_pids()])
        else:
            print(line, end="", file=sys.stderr)
    if child.wait() != 0:
        raise RuntimeError(f"the load generator exited with {child.returncode}")
    measured["restart"] = restart
    return measured


def figures(results, measured, requests_by_gap):
    """The JSON line's figures from the samples and the /proc readings."""
    samples = results["samples"]
    times = [s[3] for s in samples]
    count = len(samples)
    seconds = measured["ended"] - measured["started"]
    per_request = lambda name: round(measured["cpu"][name] * 1000 / count, 2) if count else None  # noqa: E731
    pages = {}
    for _, name, _, elapsed, _ in samples:
        pages.setdefault(name, []).append(elapsed)
    return {
        "rps": round(count / seconds, 1), "requests": count,
        "p50_ms": round(statistics.median(times), 1), "p95_ms": round(percentile(times, 0.95), 1),
        "p99_ms": round(percentile(times, 0.99), 1),
        "errors": requests_by_gap["errors"], "error_statuses": requests_by_gap["statuses"],
        "conflicts": results["conflicts"],
        "worker_cpu_ms_per_request": per_request("web"),
        "worker_rss_mb": round(max(measured["rss"]), 1), "worker_rss_mb_total": round(sum(measured["rss"]), 1),
        "job_worker_cpu_ms_per_request": per_request("jobs"),
        "postgres_cpu_ms_per_request": per_request("postgres"),
        "locust_cpu_ms_per_request": per_request("locust"),
        "pages_p50_p95_ms": {name: [len(v), round(statistics.median(v), 1), round(percentile(v, 0.95), 1)]
                             for name, v in sorted(pages.items(), key=lambda item: -len(item[1]))},
        "duration_s": round(seconds, 1),
        "load_average": [measured["load_start"], measured["load_end"]],
    }


def _status(sample):
    """A failed request's HTTP status, or for one that got no answer (status 0) what the client saw."""
    return str(sample[2]) if sample[2] else f"0 ({sample[4]})"


def split_errors(samples, restart):
    """Errors outside the database's restart, and those during it (503 or other) with the time
    from the stop to the last failed answer (after which every request succeeded)."""
    failed = [s for s in samples if s[4]]
    if not restart:
        statuses = {}
        for s in failed:
            statuses[_status(s)] = statuses.get(_status(s), 0) + 1
        return {"errors": len(failed), "statuses": statuses}, {}
    gap = [s for s in failed if s[0] + s[3] / 1000 >= restart["stopped"] - 1 and s[0] <= restart["back"] + 60]
    outside = [s for s in failed if s not in gap]
    statuses = {}
    for s in outside:
        statuses[_status(s)] = statuses.get(_status(s), 0) + 1
    last = max((s[0] + s[3] / 1000 for s in gap), default=restart["stopped"])
    return {"errors": len(outside), "statuses": statuses}, {
        "gap_errors": len(gap), "gap_503": sum(1 for s in gap if s[2] == 503),
        "db_down_s": round(restart["back"] - restart["stopped"], 2),
        "recovery_s": round(max(0.0, last - restart["stopped"]), 2)}


def summarize_profiles(folder):
    """The workers' profiles merged: the functions by their own time and by cumulative time."""
    import io
    import pstats

    files = sorted(str(path) for path in folder.glob("worker-*.prof"))
    out = io.StringIO()
    stats = pstats.Stats(*files, stream=out)
    stats.sort_stats("tottime").print_stats(40)
    stats.sort_stats("cumulative").print_stats(60)
    (folder / "profile.txt").write_text(out.getvalue())


def commit_of_checkout():
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout
    changed = subprocess.run(["git", "status", "--porcelain", "portal"], cwd=ROOT, capture_output=True, text=True)
    return head.strip() + ("+uncommitted portal/" if changed.stdout.strip() else "")


def run(args):
    from bench.pgcluster import TempCluster
    from portal.cli import apply_schema

    cluster = TempCluster() if args.fault else None
    url = cluster.url("portal_bench_load_fault") if cluster else (args.database_url or DEFAULT_DATABASE)
    own_database = args.database_url is None
    if own_database:
        prepare_database(url, args.keep)
    folder, keys = state_folder(url, args.keep and not args.fault)
    app = bench_app(url, folder, keys)
    served = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    result = {"users": args.users, "think_s": args.think, "workers": args.workers,
              "worker_class": args.worker_class or served.get("worker_class", "sync"),
              "threads": args.threads or served.get("threads", 1), "fault": args.fault,
              "commit": commit_of_checkout(), "load_average_before": load_average()}
    started = time.perf_counter()
    with app.app_context():
        if load_data.has_schema():
            apply_schema()  # a kept database follows the code's new migrations, as init-db after an upgrade
            if not load_data.is_built():
                raise SystemExit(f"{url} holds another database than the bench's: give an empty one")
        else:
            load_data.build(args.records, random.Random(20261130))
            result["build_s"] = round(time.perf_counter() - started, 1)
        year = load_data.lay_out_day()
        available = load_data.people()
    redis.Redis.from_url("redis://127.0.0.1:6379/9").flushdb()
    gateway = SmsGateway()
    env = server_environment(keys, url, folder / "instance", gateway, free_port(), args.workers)
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    portal = Portal(env, folder, args.worker_class, args.threads, args.profile)
    try:
        portal.wait_ready()
        people = allocate(args.users, available)
        chosen = {role: available[_pool_key(role)][:count] for role, count in people.items()}
        # a filer takes the next unit when done: as many units as the filers can reach
        chosen["budget"] = available["drafts"][:drafts_needed(args, people["budget"], available["drafts"])]
        phones = [entry[0] if isinstance(entry, list) else entry for group in chosen.values() for entry in group]
        sessions, logins, login_seconds = sessions_for(app, portal, gateway, folder, phones)
        result.update(people=people, logins=logins, login_s=round(login_seconds, 1))
        config = {"file": str(folder / "scenario.json"), "result": str(folder / "result.json"), "host": portal.url,
                  "database": make_url(url).database, "warmup": args.warmup,
                  "year": year, "think": args.think, "duration": args.duration, "spawn_rate": args.spawn_rate,
                  "people": people, "sessions": sessions, "drafts": chosen["budget"],
                  "superiors": chosen["superior"], "finance": chosen["finance"], "reviewers": chosen["reviewer"],
                  "readers": chosen["province"]}
        Path(config["file"]).write_text(json.dumps(config))
        measured = drive(config, portal, cluster, args.duration / 2 if args.fault else None)
    finally:
        portal.stop()
        gateway.close()
    if args.profile:
        summarize_profiles(args.profile)
    results = json.loads(Path(config["result"]).read_text())
    outside, gap = split_errors(results["samples"], measured["restart"])
    result.update(figures(results, measured, outside))
    result.update(gap)
    with app.app_context():
        lost = load_data.lost_writes(results["acks"], year)
    result.update(lost_writes=sum(lost.values()), lost_by_kind=lost, acknowledged_writes=len(results["acks"]),
                  forms_submitted=sum(1 for ack in results["acks"] if ack[0] == "submit"),
                  drafts_left=results["drafts_left"], sms_sent=gateway.kinds)
    if cluster:
        cluster.close()
    elif own_database and not args.keep:
        drop_database(url)
        shutil.rmtree(folder, ignore_errors=True)
    return result


def main(argv=None):
    result = run(parse_args(argv))
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
