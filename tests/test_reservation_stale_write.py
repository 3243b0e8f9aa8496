"""A reserved-share step taken on a form someone changed meanwhile (a second tab, a colleague): the
form is read, another transaction changes it and commits, then the step runs on what was read. It
is told who acted first (Conflict), never a 500: the step's reads between the version check and its
one write must not flush the stale row early."""
import pytest

from portal.accounts.models import Account
from portal.extensions import db
from portal.reservations import workflow
from portal.reservations.models import Reservation, YearPolicy
from tests.factories import build_tree
from tests.test_reservation_workflow import CONTACTS, FIGURES, SheetStub, filled_draft, open_policy

YEAR = 2031


def in_another_transaction(app, step):
    with app.app_context():  # a session of its own
        step()
        db.session.commit()


@pytest.mark.postgres_only
@pytest.mark.parametrize("late", ["submit", "save_figures", "confirm", "return_to_unit"])
def test_a_step_on_a_form_changed_meanwhile_is_a_conflict(app, ctx, is_postgres, late):
    if not is_postgres:
        pytest.skip("needs PostgreSQL")
    tree, sheets = build_tree(), SheetStub()
    policy = open_policy(YEAR)
    form = filled_draft(tree.budget_unit, policy)
    if late in ("confirm", "return_to_unit"):
        workflow.submit(tree.budget_unit, form, policy, attested=True, expected_version=form.version,
                        make_sheet=sheets)
    db.session.commit()
    form_id, unit_id, superior_id, version = form.id, tree.budget_unit.id, tree.superior_budget.id, form.version

    def first():
        mine = db.session.get(Reservation, form_id)
        if late in ("submit", "save_figures"):
            workflow.save_contacts(db.session.get(Account, unit_id), mine, {**CONTACTS, "contact_name": "张伟"},
                                   expected_version=version)
        else:
            workflow.return_to_unit(db.session.get(Account, superior_id), mine, expected_version=version,
                                    reason="先退回")

    db.session.expire_all()
    form, policy = db.session.get(Reservation, form_id), db.session.get(YearPolicy, YEAR)
    unit, superior = db.session.get(Account, unit_id), db.session.get(Account, superior_id)
    assert form.version == version
    in_another_transaction(app, first)
    with pytest.raises(workflow.Conflict):
        if late == "submit":
            workflow.submit(unit, form, policy, attested=True, expected_version=version, make_sheet=sheets)
        elif late == "save_figures":
            workflow.save_figures(unit, form, {**FIGURES, "canteen_total": "1200000"}, policy,
                                  expected_version=version)
        elif late == "confirm":
            workflow.confirm(superior, form, expected_version=version, make_sheet=sheets)
        else:
            workflow.return_to_unit(superior, form, expected_version=version, reason="再退回")
