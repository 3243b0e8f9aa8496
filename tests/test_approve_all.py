"""全部审核通过 (issue 11): a reviewer approves the whole filtered queue, more than a page, as a job;
its page shows the results as they arrive; a record that changed after the queue was seen is
reported, not approved unseen."""
import json
import re
from decimal import Decimal

import pytest
from sqlalchemy import select

from portal.accounts.models import Account
from portal.clock import utcnow
from portal.extensions import db
from portal.jobs import work_off
from portal.jobs.models import Job
from portal.records import batch, workflow
from portal.records.models import PurchaseRecord
from tests.factories import file_record


@pytest.fixture
def long_queue(app, tree):
    """Four records of the Guangzhou merchant waiting for its market, with a page size of two."""
    app.config["PAGE_SIZE"] = 2
    with app.app_context():
        merchant = db.session.get(Account, tree.gz_merchant.id)
        ids = [file_record(merchant, app.instance_path, product_name=f"香米{n}").id for n in range(4)]
        db.session.commit()
    return ids


def _status(app, record_id):
    with app.app_context():
        return db.session.get(PurchaseRecord, record_id).status


def test_the_whole_queue_is_approved_by_the_worker_and_reported(app, tree, login, long_queue):
    market = login(app.test_client(), tree.gz_market.phone)
    market.run_worker = False
    page = market.get("/reviews/").get_data(as_text=True)
    assert "全部审核通过（符合筛选条件的全部记录）" in page
    seen_at = re.search(r'name="seen_at" value="([^"]+)"', page).group(1)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    answer = market.post("/reviews/approve-all", data={"csrf_token": token, "seen_at": seen_at})
    assert answer.status_code == 302 and answer.headers["Location"].startswith("/reviews/batches/")
    status = market.get(answer.headers["Location"]).get_data(as_text=True)
    assert "正在处理" in status and "共 4 条" in status and 'hx-trigger="every 1s"' in status
    assert {_status(app, record_id) for record_id in long_queue} == {"filed"}
    with app.app_context():
        assert work_off() == 1
    done = market.get(answer.headers["Location"], headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "处理完成" in done and 'id="batch-approved">4<' in done and "hx-trigger" not in done
    # Approved by the market: on to the city office, each with its own review event and audit row.
    assert {_status(app, record_id) for record_id in long_queue} == {"submitted"}


def test_a_record_changed_after_the_queue_was_seen_is_reported_not_approved(app, tree, long_queue):
    with app.app_context():
        market = db.session.get(Account, tree.gz_market.id)
        seen_at = utcnow()
        job = batch.queue_approve_all(market, {}, seen_at)
        db.session.commit()
        # A colleague returns one meanwhile; the merchant files it again.
        record = db.session.get(PurchaseRecord, long_queue[0])
        workflow.return_for_changes(market, record, expected_version=record.version, reason="请补充凭证")
        db.session.commit()
        merchant = db.session.get(Account, tree.gz_merchant.id)
        record = db.session.get(PurchaseRecord, long_queue[0])
        workflow.submit(merchant, record, amount_threshold=Decimal("500000"))
        db.session.commit()
        assert work_off(kinds=[batch.KIND]) == 1
        result = db.session.get(Job, job.id)
        assert result.status == "done" and result.total == 4
        outcome = json.loads(result.result)
        assert outcome["approved"] == 3
        [(record_id, reason)] = outcome["refused"]
        assert record_id == long_queue[0] and "广州批发商" in reason and "您的操作未执行" in reason
    assert _status(app, long_queue[0]) == "filed"  # waits for the reviewer to look at it again
    assert [_status(app, record_id) for record_id in long_queue[1:]] == ["submitted"] * 3


def test_others_may_neither_start_nor_watch_it(app, tree, login, long_queue):
    with app.app_context():
        job = batch.queue_approve_all(db.session.get(Account, tree.gz_market.id), {}, utcnow())
        db.session.commit()
        job_id = job.id
    merchant = login(app.test_client(), tree.gz_merchant.phone)
    assert merchant.get(f"/reviews/batches/{job_id}").status_code == 403
    office = login(app.test_client(), tree.gz_office.phone)
    assert office.get(f"/reviews/batches/{job_id}").status_code == 404
    with app.app_context():
        assert db.session.scalars(select(Job.kind).where(Job.id == job_id)).one() == batch.KIND


@pytest.mark.parametrize("seen_at", ["2026-01-01T00:00:00Z", "2026-01-01T08:00:00+08:00", "昨天", ""])
def test_a_seen_at_of_any_shape_is_an_answer_not_a_crash(app, tree, login, long_queue, seen_at):
    market = login(app.test_client(), tree.gz_market.phone)
    market.run_worker = False
    page = market.get("/reviews/").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    answer = market.post("/reviews/approve-all", data={"csrf_token": token, "seen_at": seen_at})
    assert answer.status_code == (302 if seen_at[:1] == "2" else 400)
