"""The lists of reserved-share forms (the progress page and its export) hold exactly the forms
`scope.may_view` allows the account, for every budget unit and finance department of the tree.

Lists are built over the units an account follows, not with an SQL twin of may_view (the unused
`visible_clause` was removed): this is the check that the two ways of saying who sees a form agree.
"""
import pytest

from portal.accounts.models import Account
from portal.extensions import db
from portal.reservations import queries, scope
from portal.reservations.models import Reservation
from tests.factories import make_reservation

#: who sees which of the three forms: the school's (under 省教育厅), the head's own (省教育厅) and
#: the city unit's (广州市农业农村局, alone under 广州市财政局)
EXPECTED = {
    "province_finance": {"school", "head"}, "gz_finance": {"city"}, "county_finance": set(),
    "superior_budget": {"school", "head"}, "budget_unit": {"school"}, "gz_budget": {"city"},
}


def _listed(account, year):
    """The forms of the year on the account's progress list, as the export builds it."""
    units = queries.finance_units(account.unit) if scope.is_finance(account) else scope.department_units(account.unit)
    rows, _ = queries.progress(units, year)
    return {form.id for _, form in rows if form is not None}


@pytest.mark.parametrize("role", sorted(EXPECTED))
def test_lists_hold_exactly_the_forms_the_account_may_view(app, tree, role):
    with app.app_context():
        school = make_reservation(tree)
        city_unit = db.session.get(Account, tree.gz_budget.id).unit
        city = make_reservation(tree, unit_id=city_unit.id, superior_id=None,
                                finance_id=scope.finance_of(city_unit).id)
        head = make_reservation(tree, unit_id=db.session.get(Account, tree.superior_budget.id).unit_id,
                                superior_id=db.session.get(Account, tree.superior_budget.id).unit_id)
        db.session.commit()
        account = db.session.get(Account, getattr(tree, role).id)
        allowed = {form.id for form in db.session.query(Reservation) if scope.may_view(account, form)}
        names = {school.id: "school", city.id: "city", head.id: "head"}
        assert {names[i] for i in _listed(account, 2024)} == {names[i] for i in allowed} == EXPECTED[role]
