"""A full mobile number, on request: pages and lists show numbers masked (138****1012); a viewer
who needs to call the person presses 显示完整号码 and gets the number, and the audit trail a
personal_data_viewed row. The same scope rules as the page the button sits on decide who may."""
from flask import Blueprint, abort
from flask_login import current_user

from portal import audit
from portal.accounts import rules
from portal.accounts.models import Account, Unit, mask_phone
from portal.blueprints.common import fragment, load_or_404, requires
from portal.extensions import db
from portal.reservations import contacts, scope
from portal.reservations.models import Reservation

bp = Blueprint("reveal", __name__, url_prefix="/reveal")
bp.add_app_template_filter(mask_phone, "mask_phone")

#: the reservation's number fields a button may reveal, by the name in the URL
RESERVATION_FIELDS = {"contact": "contact_mobile", "union_contact": "union_contact_mobile"}


def _may_see_number(viewer, account):
    """One's own number, and the numbers of the accounts one manages (the edit form shows them)."""
    return account.id == viewer.id or rules.may_manage_account(viewer, account)


def _answer(number, object_ref, field):
    audit.record("personal_data_viewed", actor=current_user, object_ref=object_ref, detail={"field": field})
    db.session.commit()
    return fragment("_reveal.html", "number", number=number)


@bp.post("/account/<int:account_id>/phone")
@requires(lambda account: account.is_active)
def account_phone(account_id):
    account = load_or_404(Account, account_id, _may_see_number)
    return _answer(account.phone, f"account:{account.id}", "phone")


@bp.post("/reservation/<int:reservation_id>/<which>")
@requires(lambda account: scope.is_budget_unit(account) or scope.is_finance(account))
def reservation_mobile(reservation_id, which):
    field = RESERVATION_FIELDS.get(which)
    if field is None:
        abort(404)
    reservation = load_or_404(Reservation, reservation_id, scope.may_view)
    number = getattr(reservation, field)
    if not number:
        abort(404)
    return _answer(number, f"reservation:{reservation.id}", field)


@bp.post("/unit/<int:unit_id>/contacts/<which>")
@requires(lambda account: scope.is_budget_unit(account) or scope.is_finance(account))
def unit_contact_mobile(unit_id, which):
    """A budget unit's current contact (个人中心), for the unit, its superiors and its finance."""
    field = contacts.MOBILES.get(which)
    if field is None:
        abort(404)
    unit = load_or_404(Unit, unit_id, contacts.may_see)
    saved = contacts.current(unit.id)
    number = getattr(saved, field) if saved is not None else None
    if not number:
        abort(404)
    return _answer(number, f"unit:{unit.id}", f"unit_contacts.{field}")
