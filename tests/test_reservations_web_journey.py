"""The reserved-share journey through HTTP: three steps, return, resubmission, confirmation,
batch, finance, and the sheets made along the way."""
import re
import shutil
import subprocess
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.clock import to_china, utcnow
from portal.extensions import db
from portal.reservations.models import ConfirmationSheet, Reservation, YearPolicy
from portal.reservations.sheets import sheet_path
from tests.conftest import csrf_token

FIGURES = {"canteen_type": "own", "remark": "", "canteen_total": "1000000", "ratio": "30", "union_need": "1",
           "union_total": "200000", "union_ratio": "20", "union_remark": ""}
CONTACTS = {"contact_name": "李晓明", "contact_mobile": "13912345678", "contact_landline": "020-83133000"}


@pytest.fixture
def year(app):
    """A year whose filing is open for another month."""
    with app.app_context():
        today = to_china(utcnow()).date()
        policy = YearPolicy(year=today.year + 1, min_ratio=30, encouraged_ratio=15, national_floor=10,
                            filing_deadline=today + timedelta(days=30), flag_below_last_year=True)
        db.session.add(policy)
        db.session.commit()
        return policy.year


def post(client, url, data):
    token = csrf_token(client, "/")
    return client.post(url, data={**data, "csrf_token": token})


def version_of(app, unit_id, year):
    """(id, version, status) of the unit's form of the year; a form not saved yet has no version."""
    with app.app_context():
        form = db.session.scalar(select(Reservation).where(Reservation.unit_id == unit_id, Reservation.year == year))
        return (form.id, form.version, form.status) if form else (None, "", None)


def fill_steps(app, client, unit_id, year, **figures):
    assert client.get(f"/reservations/{year}/step/1").status_code == 200
    _, version, _ = version_of(app, unit_id, year)
    assert post(client, f"/reservations/{year}/step/1", {**FIGURES, **figures, "version": version}).status_code == 302
    _, version, _ = version_of(app, unit_id, year)
    assert post(client, f"/reservations/{year}/step/2", {**CONTACTS, "version": version}).status_code == 302
    return version_of(app, unit_id, year)[1]


def file_form(app, client, unit_id, year, **figures):
    version = fill_steps(app, client, unit_id, year, **figures)
    response = post(client, f"/reservations/{year}/step/3", {"attested": "y", "version": version})
    assert response.status_code == 302, response.get_data(as_text=True)


def test_school_files_superior_returns_confirms_batches_and_finance_confirms(app, tree, login, outbox, year):
    school, bureau, finance = (app.test_client() for _ in range(3))
    login(school, tree.budget_unit.phone)
    login(bureau, tree.superior_budget.phone)
    login(finance, tree.province_finance.phone)

    # A ratio under the year's minimum is refused beside the field, the rest kept.
    school.get(f"/reservations/{year}/step/1")
    _, version, _ = version_of(app, tree.budget_unit.unit_id, year)
    refused = post(school, f"/reservations/{year}/step/1", {**FIGURES, "ratio": "20", "version": version})
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    assert "预留比例不能低于本年度最低比例30%" in page and 'value="1000000"' in page

    # Submitting without the attestation is refused, and nothing is submitted.
    version = fill_steps(app, school, tree.budget_unit.unit_id, year)
    unattested = post(school, f"/reservations/{year}/step/3", {"version": version})
    assert unattested.status_code == 422 and "请勾选确认" in unattested.get_data(as_text=True)
    assert version_of(app, tree.budget_unit.unit_id, year)[2] == "draft"
    file_form(app, school, tree.budget_unit.unit_id, year)
    form_id, version, status = version_of(app, tree.budget_unit.unit_id, year)
    assert status == "submitted"
    assert "待上级预算单位确认" in school.get("/reservations/").get_data(as_text=True)
    # Locked: a forged step-1 post changes nothing.
    post(school, f"/reservations/{year}/step/1", {**FIGURES, "canteen_total": "1", "version": version})
    assert version_of(app, tree.budget_unit.unit_id, year)[1] == version

    detail = bureau.get(f"/reservations/view/{form_id}").get_data(as_text=True)
    assert "1,000,000.00" in detail and "300,000.00" in detail
    returned = post(bureau, f"/reservations/view/{form_id}/decide", {"decision": "return", "version": version,
                                                                      "reason": ""})
    assert returned.status_code == 422 and "退回时请填写退回原因" in returned.get_data(as_text=True)
    post(bureau, f"/reservations/view/{form_id}/decide", {"decision": "return", "version": version,
                                                          "reason": "采购总额与预算不符"})
    assert version_of(app, tree.budget_unit.unit_id, year)[2] == "returned"
    assert any("采购总额与预算不符" in m["text"] for m in outbox.messages(tree.budget_unit.phone))

    step1 = school.get(f"/reservations/{year}/step/1").get_data(as_text=True)
    assert "采购总额与预算不符" in step1 and "预留份额 300,000.00 元" in step1  # the values as returned
    file_form(app, school, tree.budget_unit.unit_id, year, canteen_total="1200000")
    form_id, version, status = version_of(app, tree.budget_unit.unit_id, year)
    assert status == "submitted"
    post(bureau, f"/reservations/view/{form_id}/decide", {"decision": "confirm", "version": version})
    assert version_of(app, tree.budget_unit.unit_id, year)[2] == "confirmed"

    # The batch waits until the bureau's own form is confirmed too.
    post(bureau, "/reservations/batch", {})
    with app.app_context():
        assert db.session.get(Reservation, form_id).batch_id is None
    file_form(app, bureau, tree.superior_budget.unit_id, year)
    own_id, own_version, _ = version_of(app, tree.superior_budget.unit_id, year)
    post(bureau, f"/reservations/view/{own_id}/decide", {"decision": "confirm", "version": own_version})
    assert post(bureau, "/reservations/batch", {}).status_code == 302
    with app.app_context():
        assert db.session.get(Reservation, form_id).batch_id is not None

    assert "省实验中学" in finance.get("/reservations/finance").get_data(as_text=True)
    _, version, _ = version_of(app, tree.budget_unit.unit_id, year)
    post(finance, f"/reservations/view/{form_id}/decide", {"decision": "finalize", "version": version})
    assert version_of(app, tree.budget_unit.unit_id, year)[2] == "final"

    with app.app_context():
        sheets = db.session.scalars(select(ConfirmationSheet).where(ConfirmationSheet.reservation_id == form_id)
                                    .order_by(ConfirmationSheet.id)).all()
        assert [s.stage for s in sheets] == ["submitted", "submitted", "confirmed", "final"]
        final_path = sheet_path(app.instance_path, sheets[-1])
        final_id = sheets[-1].id
    download = school.get(f"/reservations/sheets/{final_id}")
    assert download.status_code == 200 and download.data.startswith(b"%PDF")
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", "-layout", str(final_path), "-"], capture_output=True,
                              text=True, check=True).stdout
        compact = re.sub(r"\s+", "", text)
        assert "省教育厅" in compact and "省财政厅" in compact and "360,000.00" in compact
