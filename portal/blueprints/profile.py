"""个人中心: the person's own account and, for a budget unit, the unit's current contacts, which
it changes here at any time outside the yearly form (seed 001)."""
from flask import Blueprint, abort, flash, redirect, request, session, url_for
from flask_login import current_user

from portal import reminders
from portal.accounts.lifecycle import previous_login_text
from portal.accounts.rules import does_business
from portal.blueprints.common import apply_errors, render_page, requires, with_toast
from portal.errors import ValidationFailed
from portal.extensions import db, htmx
from portal.forms.reservations import ContactsForm
from portal.reservations import contacts

bp = Blueprint("profile", __name__, url_prefix="/profile")

SAVED = "本单位联系人信息已更新"


def _page(block, status=200, **extra):
    keeps_contacts = contacts.may_change(current_user)
    context = dict(keeps_contacts=keeps_contacts, editing=False, form=None,
                   unit_contacts=contacts.current(current_user.unit_id) if keeps_contacts else None,
                   previous_login=previous_login_text(session.get("previous_login")))
    context.update(extra)
    return render_page("profile/index.html", block, **context), status


@bp.get("")
@requires(does_business)
def index():
    return _page("content", received_reminders=reminders.received(current_user.unit_id))


@bp.get("/contacts")
@requires(contacts.may_change)
def edit_contacts():
    """The contacts' form, with the full numbers: the unit's own."""
    return _page("contacts", editing=True, form=ContactsForm(data=contacts.initial(current_user)))


@bp.post("/contacts")
@requires(contacts.may_change)
def save_contacts():
    form = ContactsForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        contacts.change(current_user, request.form)
    except ValidationFailed as failed:
        db.session.rollback()
        apply_errors(form, failed.errors)
        return _page("contacts", 422, editing=True, form=form)
    db.session.commit()
    if not htmx:
        flash(SAVED, "success")
        return redirect(url_for("profile.index"))
    response, status = _page("contacts")
    return with_toast(response, SAVED), status
