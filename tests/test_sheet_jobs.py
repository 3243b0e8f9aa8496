"""Confirmation sheets drawn by the worker (issue 11): a submission answers at once, the form's page
polls until its sheet is there, and a worker killed in the middle of a sheet leaves the job to the
next one: the form ends with exactly one sheet for that step."""
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from portal.accounts.models import Account
from portal.clock import to_china, utcnow
from portal.extensions import db
from portal.jobs import work_off
from portal.jobs.models import FAILED, RUNNING, Job
from portal.reservations import sheet_jobs
from portal.reservations.models import ConfirmationSheet, Reservation
from tests.factories import make_reservation

ROOT = Path(__file__).resolve().parent.parent


def _sheets(reservation_id):
    return db.session.scalars(select(ConfirmationSheet).where(ConfirmationSheet.reservation_id == reservation_id)).all()


def _queued_form(app, tree):
    """The school's submitted form with its submission sheet queued, not drawn."""
    with app.app_context():
        form = make_reservation(tree)
        sheet_jobs.sheet_later(form, "submitted", db.session.get(Account, tree.budget_unit.id),
                               base_url="https://portal.example.gov.cn")
        db.session.commit()
        return form.id


def test_the_page_polls_while_the_sheet_is_drawn_and_stops_once_it_is_there(app, tree, login):
    school = app.test_client()
    login(school, tree.budget_unit.phone)
    school.run_worker = False  # the moment before the worker has taken the job
    form_id = _queued_form(app, tree)
    page = school.get(f"/reservations/view/{form_id}").get_data(as_text=True)
    assert "填报提交确认单正在生成" in page and 'hx-trigger="every 2s"' in page
    assert f'hx-get="/reservations/view/{form_id}/sheets"' in page
    with app.app_context():
        assert work_off() == 1
        [sheet] = _sheets(form_id)
        code = sheet.verification_code
    fragment = school.get(f"/reservations/view/{form_id}/sheets", headers={"HX-Request": "true"})
    text = fragment.get_data(as_text=True)
    assert fragment.status_code == 200 and "下载" in text and code in text
    assert "hx-trigger" not in text and "正在生成" not in text


def test_a_submission_answers_before_its_sheet_exists(app, tree, login):
    from tests.test_reservation_web_forms import CONTACTS, FIGURES, add_policy, form_row, post_step

    year = add_policy(app, to_china(utcnow()).year + 1)
    school = login(app.test_client(), tree.budget_unit.phone)
    school.run_worker = False  # the answer, before the worker has taken the job
    assert post_step(school, year, 1, FIGURES).status_code == 302
    assert post_step(school, year, 2, CONTACTS).status_code == 302
    assert post_step(school, year, 3, {"attested": "y"}).status_code == 302
    form_id = form_row(app, tree.budget_unit.unit_id, year)["id"]
    with app.app_context():
        assert _sheets(form_id) == []
        [job] = db.session.scalars(select(Job).where(Job.kind == "sheet")).all()
        assert job.subject == f"reservation:{form_id}" and job.created_by_id == tree.budget_unit.id
        assert work_off() == 1
        [sheet] = _sheets(form_id)
        assert sheet.stage == "submitted" and sheet.printed["verification_code"] == sheet.verification_code


def test_a_sheet_that_cannot_be_drawn_says_so_and_the_page_stops_asking(app, tree, login):
    school = app.test_client()
    login(school, tree.budget_unit.phone)
    school.run_worker = False
    form_id = _queued_form(app, tree)
    with app.app_context():
        job = db.session.scalars(select(Job).where(Job.kind == "sheet")).one()
        job.status = FAILED
        db.session.commit()
    text = school.get(f"/reservations/view/{form_id}/sheets", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "确认单生成失败" in text and "hx-trigger" not in text


def test_a_worker_killed_while_drawing_leaves_the_sheet_to_the_next_exactly_once(app, tree, database_url, tmp_path):
    form_id = _queued_form(app, tree)
    marker = tmp_path / "drawing"
    slow_worker = (
        "import pathlib, sys, time\n"
        "import portal.reservations.sheets as sheets\n"
        "def slow(*args, **kwargs):\n"
        f"    pathlib.Path({str(marker)!r}).write_text('drawing')\n"
        "    time.sleep(300)\n"
        "sheets.render_pdf = slow\n"
        "from flask.cli import main\n"
        "sys.argv = ['flask', '--app', 'app', 'worker', '--poll', '0.2']\n"
        "main()\n")
    env = {**os.environ, "DATABASE_URL": database_url, "PORTAL_INSTANCE": app.instance_path}
    worker = subprocess.Popen([sys.executable, "-c", slow_worker], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert worker.poll() is None, worker.stderr.read().decode(errors="replace")[-2000:]
            assert time.monotonic() < deadline, "the worker never started drawing"
            time.sleep(0.1)
        os.kill(worker.pid, signal.SIGKILL)  # in the middle of the sheet
    finally:
        worker.kill()
        worker.wait(timeout=30)
    with app.app_context():
        job = db.session.scalars(select(Job).where(Job.kind == "sheet")).one()
        assert (job.status, job.attempts) == (RUNNING, 1) and _sheets(form_id) == []
        assert work_off() == 0  # its lease still holds: nobody else takes it yet
        later = utcnow() + timedelta(minutes=6)
        assert work_off(now=later) == 1
        assert work_off(now=later) == 0
        [sheet] = _sheets(form_id)
        assert sheet.stage == "submitted" and db.session.get(Job, job.id).attempts == 2
        assert (Path(app.instance_path) / "sheets").rglob(sheet.stored_name)
        assert db.session.get(Reservation, form_id).status == "submitted"


def test_a_worker_whose_lease_ran_out_keeps_nothing_it_wrote(app, tree):
    """Worker A takes the sheet and stalls past its lease; B takes it and draws it; when A comes
    back, its sheet is dropped, not added: the form keeps exactly one."""
    from portal.jobs.queue import claim, run

    form_id = _queued_form(app, tree)
    with app.app_context():
        now = utcnow()
        slow = claim(now=now, worker="worker-a")
        slow_id = slow.id
        db.session.expunge(slow)  # A's view of its job, from the moment it claimed it
        later = now + timedelta(minutes=6)
        fast = claim(now=later, worker="worker-b")
        assert fast.id == slow_id and run(fast, now=later) == "done"
        assert run(slow, now=later) == "lost"
        assert len(_sheets(form_id)) == 1 and db.session.get(Job, slow_id).locked_by == "worker-b"


def test_a_job_that_every_worker_died_on_stops_being_retried(app, tree):
    from portal.jobs.queue import claim, run

    _queued_form(app, tree)
    with app.app_context():
        job = db.session.scalars(select(Job).where(Job.kind == "sheet")).one()
        job.status, job.attempts, job.locked_until = RUNNING, job.max_attempts, utcnow() - timedelta(minutes=1)
        db.session.commit()
        taken = claim()
        assert run(taken) == FAILED
        assert "多次执行均未完成" in db.session.get(Job, job.id).last_error


def test_a_worker_given_kinds_leaves_the_others(app, tree):
    _queued_form(app, tree)
    result = app.test_cli_runner().invoke(args=["worker", "--burst", "--kinds", "sms"])
    assert result.exit_code == 0 and "只执行 sms" in result.output
    with app.app_context():
        assert db.session.scalars(select(Job.status).where(Job.kind == "sheet")).one() == "queued"
