"""The step-3 submission with its sheet drawn in the request (before commit c0fe018) and queued
for the worker (since), timed in the same run, interleaved, with the worker's time per sheet.

Used by bench.sheets (`python -m bench.sheets`). Every submission is a whole request through the
app's test client: a demo unit posts step 3 of its returned form (attestation, checks, state
change, then either the sheet rendered, stored and recorded, or its figures read and a job
written; commit, redirect). "before" swaps the view's sheet maker for the one it had before
c0fe018 (sheets.make_sheet with the instance folder); "after" is the code as it stands
(sheet_jobs.sheet_later). The two alternate, in a seeded random order within each pair, so that
the machine's load falls on both alike. After each "after" submission the worker's part is
timed as `flask worker` does it: claim the sheet job, draw, store, record, commit.

The floor is GET /healthz through the same client in the same pairs (Flask, the session, one
database round trip): ratios to it travel between machines better than milliseconds do.
Between submissions, untimed, the unit's bureau returns the form and its SMS job is run.
"""
import random
import re
import statistics
import time
from functools import partial

from flask import current_app
from sqlalchemy import func, select

from bench.common import logged_in_client, percentile
from portal.accounts.models import Account
from portal.extensions import db

SUBMITTER_PHONE = "13900000013"       # a demo unit whose form its bureau has returned


def _sheet_in_request():
    """The view's sheet maker before c0fe018: the PDF is drawn inside the request."""
    from portal.reservations import sheets

    return partial(sheets.make_sheet, instance_path=current_app.instance_path,
                   base_url=current_app.config["PUBLIC_BASE_URL"])


def submittable_form():
    from portal.reservations.models import Reservation

    unit_id = db.session.scalar(select(Account.unit_id).where(Account.with_phone(SUBMITTER_PHONE)))
    form = db.session.scalar(select(Reservation).where(Reservation.unit_id == unit_id, Reservation.status == "returned")
                             .order_by(Reservation.year.desc()))
    return form.id, form.year


def _counts(app, form_id):
    from portal.jobs.models import QUEUED, Job
    from portal.reservations import sheet_jobs
    from portal.reservations.models import ConfirmationSheet

    with app.app_context():
        made = db.session.scalar(select(func.count()).select_from(ConfirmationSheet)
                                 .where(ConfirmationSheet.reservation_id == form_id))
        queued = db.session.scalar(select(func.count()).select_from(Job).where(
            Job.kind == sheet_jobs.KIND, Job.status == QUEUED, Job.subject == sheet_jobs.subject_of(form_id)))
    return made, queued


def _post_step3(client, year):
    """Post step 3 as the page's form would; the timed part is the POST alone."""
    page = client.get(f"/reservations/{year}/step/3").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    version = re.search(r'name="version" type="hidden" value="(\d+)"', page).group(1)
    started = time.perf_counter()
    response = client.post(f"/reservations/{year}/step/3",
                           data={"csrf_token": token, "version": version, "attested": "y"})
    elapsed = (time.perf_counter() - started) * 1000
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return elapsed


def _worker_draws(app):
    """One sheet job taken and done as the worker does it; its milliseconds (wall, CPU)."""
    from portal.jobs.models import DONE
    from portal.jobs.queue import claim, run
    from portal.reservations import sheet_jobs

    with app.app_context():
        started, started_cpu = time.perf_counter(), time.process_time()
        job = claim(kinds=[sheet_jobs.KIND])
        assert job is not None, "no sheet job queued"
        assert run(job) == DONE, job.last_error
        return (time.perf_counter() - started) * 1000, (time.process_time() - started_cpu) * 1000


def _return_form(app, form_id):
    from portal.jobs import work_off
    from portal.reservations import workflow
    from portal.reservations.models import Reservation

    with app.app_context():
        form = db.session.get(Reservation, form_id)
        bureau = db.session.scalar(select(Account).where(Account.unit_id == form.superior_id))
        workflow.return_to_unit(bureau, form, expected_version=form.version, reason="基准测试：请重新提交")
        db.session.commit()
        work_off()  # its SMS to the unit, untimed


def _healthz(client):
    started = time.perf_counter()
    response = client.get("/healthz")
    elapsed = (time.perf_counter() - started) * 1000
    assert response.status_code == 200
    return elapsed


def _stats(samples):
    return {"p50": round(statistics.median(samples), 1), "p95": round(percentile(samples, 0.95), 1)}


def time_submissions(app, form_id, year, count, seed=20241130):
    """`count` submissions each way, interleaved; the figures as a flat dict."""
    from portal.blueprints import reservations as views

    queued_maker = views._sheet_maker
    client, _ = logged_in_client(app, SUBMITTER_PHONE)
    rng = random.Random(seed)
    before, after, worker, worker_cpu, floor = [], [], [], [], []

    def submit(way, timed=True):
        views._sheet_maker = _sheet_in_request if way == "before" else queued_maker
        try:
            made, queued = _counts(app, form_id)
            elapsed = _post_step3(client, year)
        finally:
            views._sheet_maker = queued_maker
        now_made, now_queued = _counts(app, form_id)
        if way == "before":
            assert (now_made, now_queued) == (made + 1, queued), "the sheet was not drawn in the request"
        else:
            assert (now_made, now_queued) == (made, queued + 1), "the sheet was not queued"
            wall, cpu = _worker_draws(app)
            assert _counts(app, form_id) == (made + 1, queued), "the worker drew no sheet"
            if timed:
                worker.append(wall)
                worker_cpu.append(cpu)
        if timed:
            (before if way == "before" else after).append(elapsed)
        _return_form(app, form_id)

    for way in ("before", "after"):  # warm-up: login, the pages' first renders, the worker's first sheet
        submit(way, timed=False)
    _healthz(client)
    for _ in range(count):
        pair = ["before", "after"]
        rng.shuffle(pair)
        for way in pair:
            submit(way)
        floor.append(_healthz(client))
    b, a, w, f = _stats(before), _stats(after), _stats(worker), _stats(floor)
    return {
        "submits_each_way": count,
        "submit_before_p50_ms": b["p50"], "submit_before_p95_ms": b["p95"],
        "submit_after_p50_ms": a["p50"], "submit_after_p95_ms": a["p95"],
        "submit_after_vs_before_p50": round(a["p50"] / b["p50"], 3),
        "submit_after_vs_before_p95": round(a["p95"] / b["p95"], 3),
        "worker_sheet_p50_ms": w["p50"], "worker_sheet_p95_ms": w["p95"],
        "worker_sheet_cpu_p50_ms": _stats(worker_cpu)["p50"],
        "floor_healthz_p50_ms": f["p50"], "floor_healthz_p95_ms": f["p95"],
        "submit_before_p50_vs_floor": round(b["p50"] / f["p50"], 1),
        "submit_after_p50_vs_floor": round(a["p50"] / f["p50"], 1),
    }
