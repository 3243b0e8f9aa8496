"""A large export is written by the worker (issue 11): the person is sent to the export's page,
which shows its progress and then the file; the file holds what the direct download would, and
only the account that asked may see or fetch it."""
import io

import openpyxl
import pytest
from sqlalchemy import select

from portal.accounts.models import Account
from portal.extensions import db
from portal.jobs import work_off
from portal.jobs.models import Job
from tests.factories import file_record


@pytest.fixture
def three_waiting(app, tree):
    """Three records of the Guangzhou merchant waiting for its market."""
    with app.app_context():
        merchant = db.session.get(Account, tree.gz_merchant.id)
        ids = [file_record(merchant, app.instance_path, product_name=f"香米{n}").id for n in range(3)]
        db.session.commit()
    return ids


def _rows(response):
    sheet = openpyxl.load_workbook(io.BytesIO(response.data), read_only=True).active
    return [row for row in sheet.iter_rows(values_only=True)][1:]


def test_a_large_export_waits_on_its_page_then_downloads_the_same_rows(app, tree, login, three_waiting):
    market = login(app.test_client(), tree.gz_market.phone)
    inline = _rows(market.get("/reviews/export"))
    assert sorted(row[1] for row in inline) == sorted(three_waiting)

    app.config["EXPORT_INLINE_ROWS"] = 2  # three rows are now "large"
    market.run_worker = False  # the moment before the worker takes it
    queued = market.get("/reviews/export")
    assert queued.status_code == 302 and queued.headers["Location"].startswith("/exports/")
    page = market.get(queued.headers["Location"]).get_data(as_text=True)
    assert "排队等待导出" in page and 'hx-trigger="every 1s"' in page
    with app.app_context():
        job = db.session.scalars(select(Job).where(Job.kind == "export")).one()
        assert job.created_by_id == tree.gz_market.id and job.summary == "导出：待审核购销记录"
        assert work_off() == 1
        job = db.session.get(Job, job.id)
        assert (job.status, job.progress, job.total) == ("done", 3, 3)
    done = market.get(queued.headers["Location"], headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "下载 Excel 文件" in done and "hx-trigger" not in done
    download = market.get(f"{queued.headers['Location']}/download")
    assert download.status_code == 200 and "attachment" in download.headers["Content-Disposition"]
    assert _rows(download) == inline


def test_only_the_account_that_asked_sees_the_export(app, tree, login, three_waiting):
    app.config["EXPORT_INLINE_ROWS"] = 2
    market = login(app.test_client(), tree.gz_market.phone)
    location = market.get("/reviews/export").headers["Location"]  # the worker beside it writes it
    assert market.get(f"{location}/download").status_code == 200
    for role in ("gz_office", "sz_market"):
        other = login(app.test_client(), getattr(tree, role).phone)
        assert other.get(location).status_code == 404
        assert other.get(f"{location}/download").status_code == 404
    assert app.test_client().get(location).status_code == 302  # to the login page


def test_the_workers_scope_is_the_askers_not_everyones(app, tree, login, three_waiting):
    """The Shenzhen market's large export, written by the worker, holds none of Guangzhou's."""
    app.config["EXPORT_INLINE_ROWS"] = -1  # every export a job, even an empty one
    shenzhen = login(app.test_client(), tree.sz_market.phone)
    location = shenzhen.get("/reviews/export").headers["Location"]
    assert _rows(shenzhen.get(f"{location}/download")) == []


def test_a_finance_departments_progress_export_goes_the_same_way(app, tree, login):
    from tests.factories import make_reservation

    with app.app_context():
        make_reservation(tree)
        db.session.commit()
    finance = login(app.test_client(), tree.province_finance.phone)
    inline = _rows(finance.get("/reservations/export?year=2024"))
    assert {row[1] for row in inline} >= {"省实验中学"}
    app.config["EXPORT_INLINE_ROWS"] = -1
    location = finance.get("/reservations/export?year=2024").headers["Location"]
    assert location.startswith("/exports/")
    assert _rows(finance.get(f"{location}/download")) == inline


def test_a_large_audit_log_export_is_written_by_the_worker_in_the_audit_administrators_scope(app, tree, login):
    auditor = login(app.test_client(), tree.audit_admin.phone)
    inline = _rows(auditor.get("/audit/export?format=xlsx&action=login"))
    assert inline and {row[5] for row in inline} == {"登录"}
    app.config["EXPORT_INLINE_ROWS"] = -1
    location = auditor.get("/audit/export?format=xlsx&action=login").headers["Location"]
    written = _rows(auditor.get(f"{location}/download"))
    assert written == inline
    assert {row[5] for row in written} == {"登录"}
