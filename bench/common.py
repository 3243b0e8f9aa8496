"""Shared benchmark helpers: percentiles, peak memory, the demo database, a logged-in test client."""
import json
import re
import resource
import statistics
import time


def percentile(samples, fraction):
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def timed(call, repeat, warmup=3):
    """Run `call` `warmup` times unmeasured (caches, compiled queries), then `repeat` times;
    return the measured durations in milliseconds."""
    for _ in range(warmup):
        call()
    durations = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        durations.append((time.perf_counter() - start) * 1000)
    return durations


def reset_to_demo():
    """In an app context: the database emptied, the schema made through the migrations (as
    init-db does), and the demo province built; the caller commits."""
    from sqlalchemy import text

    from portal.cli import apply_schema
    from portal.demo import build_demo
    from portal.extensions import db

    with db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # what an earlier run left, tables a later migration dropped included
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    db.drop_all()
    with db.engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    apply_schema()
    build_demo()


def summary(samples):
    return {"p50": round(statistics.median(samples), 2), "p95": round(percentile(samples, 0.95), 2)}


def peak_rss_mb():
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def logged_in_client(app, phone):
    """Log in through the real flow: send a code, have the worker send it (a login code is a
    job), read it from the outbox, post it. The app needs LOGIN_CAPTCHA off."""
    from portal.accounts.sms import outbox_path
    from portal.jobs import work_off

    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    response = client.post("/login/code", data={"phone": phone, "csrf_token": token})
    assert response.status_code == 200, response.get_data(as_text=True)
    with app.app_context():
        work_off()
    lines = outbox_path(app.config).read_text(encoding="utf-8").splitlines()
    code = next(re.search(r"验证码为(\d{6})", json.loads(line)["text"]).group(1)
                for line in reversed(lines) if json.loads(line)["to"] == phone)
    response = client.post("/login", data={"phone": phone, "code": code, "csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)
    # Login starts a new session, and with it a new CSRF token.
    home = client.get("/").get_data(as_text=True)
    token = re.search(r'"X-CSRFToken": "([^"]+)"', home).group(1)
    return client, token
