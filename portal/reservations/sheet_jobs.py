"""Confirmation sheets drawn by the worker: a submission or a confirmation answers at once.

The step reads the figures the sheet prints in its own transaction (what the form said when it
was submitted or confirmed) and queues a job with them; the worker draws the PDF, stores it and
records the sheet in the transaction that marks the job done. A worker killed while drawing
committed nothing: the next one draws the sheet again, and the form ends with exactly one sheet
per step. The form's page polls until its sheet is there.
"""
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select

from portal.extensions import db
from portal.jobs import handler
from portal.jobs.models import FAILED, QUEUED, RUNNING, Job
from portal.jobs.queue import enqueue
from portal.reservations import sheets
from portal.reservations.models import Reservation
from portal.reservations.states import SHEET_STAGES

KIND = "sheet"


def subject_of(reservation_id):
    return f"reservation:{reservation_id}"


def sheet_later(reservation, stage, actor, *, base_url):
    """The workflow's make_sheet for the web: the sheet is queued, not drawn, in the request."""
    printed, now = sheets.sheet_values(reservation, stage, base_url)
    return enqueue(KIND, {"reservation_id": reservation.id, "stage": stage, "actor_id": actor.id,
                          "printed": printed, "created_at": now.isoformat()},
                   summary=f"确认单（{SHEET_STAGES[stage]}）：{reservation.unit.name}",
                   subject=subject_of(reservation.id), created_by=actor,
                   dedupe_key=f"sheet:{reservation.id}:{stage}:{printed['verification_code']}")


@handler(KIND, lease=timedelta(minutes=5), max_attempts=5)
def _draw(payload, job):
    reservation = db.session.get(Reservation, payload["reservation_id"])
    sheet = sheets.store_sheet(reservation, payload["stage"], payload["actor_id"], payload["printed"],
                               datetime.fromisoformat(payload["created_at"]), instance_path=current_app.instance_path)
    return {"sheet_id": sheet.id}


def waiting(reservation_id):
    """The form's sheets not drawn yet ({stage label, failed?}), oldest first."""
    jobs = db.session.scalars(select(Job).where(Job.subject == subject_of(reservation_id), Job.kind == KIND,
                                                Job.status.in_((QUEUED, RUNNING, FAILED))).order_by(Job.id)).all()
    # the stage is read from the dedupe key (sheet:<form>:<stage>:<code>), not from the encrypted payload
    return [{"label": SHEET_STAGES.get(job.dedupe_key.split(":")[2], "确认单"), "failed": job.status == FAILED}
            for job in jobs]
