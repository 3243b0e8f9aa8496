"""Authorization rows of the oversight area: finance departments only, each within its own
subtree of the finance tree (a county never sees its city's units or imports)."""
from datetime import date
from decimal import Decimal

from tests.authz_rules import BAD_REQUEST, FORBIDDEN, HIDDEN, LOGIN, OK, totals_readers

OVERSEERS = {"province_finance", "gz_finance", "county_finance"}


def overseers(outcome=OK):
    return lambda role: LOGIN if role == "anonymous" else outcome if role in OVERSEERS else FORBIDDEN


def guangzhou_overseers(role):
    """The province and Guangzhou finance see Guangzhou's objects; the county below does not."""
    if role == "anonymous":
        return LOGIN
    if role not in OVERSEERS:
        return FORBIDDEN
    return HIDDEN if role == "county_finance" else OK


ROWS = {
    "oversight.index": ("GET", lambda t: "/oversight/?year=2024&day=2024-09-30", overseers()),
    "oversight.finance": ("GET", lambda t: f"/oversight/finance/{t.gz_finance.unit_id}", guangzhou_overseers),
    "oversight.unit": ("GET", lambda t: f"/oversight/units/{t.gz_budget.unit_id}", guangzhou_overseers),
    "oversight.imports": ("GET", lambda t: "/oversight/imports/", overseers()),
    "oversight.template": ("GET", lambda t: "/oversight/imports/template", overseers()),
    # the empty upload is answered with its field errors (422)
    "oversight.preview": ("POST", lambda t: "/oversight/imports/", overseers()),
    # a confirmation that names no staged file is malformed
    "oversight.confirm": ("POST", lambda t: "/oversight/imports/confirm", overseers(BAD_REQUEST)),
    "oversight.error_file": ("GET", lambda t: "/oversight/imports/errors/" + "A" * 43, overseers(HIDDEN)),
    "oversight.import_detail": ("GET", lambda t: f"/oversight/imports/{t.fulfilment_import_id}",
                                guangzhou_overseers),
}


def prepare(app, tree):
    """Guangzhou finance's import of one line for its own budget unit."""
    from portal.extensions import db
    from portal.oversight.models import FulfilmentImport, FulfilmentLine

    made = FulfilmentImport(finance_id=tree.gz_finance.unit_id, year=2024, as_of=date(2024, 9, 30),
                            filename="832.xlsx", sha256="0" * 64, line_count=1, canteen_total=Decimal("1.00"),
                            union_total=Decimal("0.00"), created_by_id=tree.gz_finance.id)
    db.session.add(made)
    db.session.flush()
    db.session.add(FulfilmentLine(import_id=made.id, unit_id=tree.gz_budget.unit_id, year=2024,
                                  as_of=date(2024, 9, 30), canteen_amount=Decimal("1.00"),
                                  union_amount=Decimal("0.00")))
    tree.fulfilment_import_id = made.id


REMINDERS = OVERSEERS | {"province", "province_reviewer", "gz_office", "gz_reviewer", "sz_office", "sz_reviewer"}


def reminder_senders(role):
    """Finance departments and the province and city offices (the empty form is a 422)."""
    return LOGIN if role == "anonymous" else OK if role in REMINDERS else FORBIDDEN


ROWS.update({
    "reminders.index": ("GET", lambda t: "/oversight/reminders/", reminder_senders),
    "reminders.preview": ("POST", lambda t: "/oversight/reminders/preview", reminder_senders),
    "reminders.send": ("POST", lambda t: "/oversight/reminders/send", reminder_senders),
})

ROWS.update({
    "notices.index": ("GET", lambda t: "/oversight/notice/?year=2024&day=2024-10-01&threshold=60", overseers()),
    "notices.export": ("GET", lambda t: "/oversight/notice/export?year=2024&day=2024-10-01", overseers()),
    "notices.pdf": ("GET", lambda t: "/oversight/notice/pdf?year=2024&day=2024-10-01", overseers()),
})

ROWS.update({
    # the offices see approved purchases, finance departments the reserved share
    "dashboard.index": ("GET", lambda t: "/dashboard?year=2024", reminder_senders),
    "reports.records": ("GET", lambda t: "/reports/records?month=2024-03&channel=market", totals_readers),
})

ROWS.update({
    "reminders.export": ("GET", lambda t: "/oversight/reminders/export", reminder_senders),
    "oversight.imports_export": ("GET", lambda t: "/oversight/imports/export", overseers()),
})
