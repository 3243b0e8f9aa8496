"""Confirmation sheets: the PDF download for those who may see the form, and the public
verification page that a sheet's QR code leads to."""
from flask import Blueprint, abort, current_app, render_template, send_file
from flask_login import current_user
from sqlalchemy import select

from portal.accounts.rules import does_business
from portal.blueprints.common import requires
from portal.extensions import db, limiter
from portal.reservations import scope, sheets
from portal.reservations.models import ConfirmationSheet

bp = Blueprint("sheets", __name__)

def _verify_limit():
    return current_app.config["VERIFY_IP_LIMIT"]


@bp.get("/reservations/sheets/<int:sheet_id>")
@requires(does_business)
def download(sheet_id):
    sheet = db.session.get(ConfirmationSheet, sheet_id)
    if sheet is None or not scope.may_view(current_user, sheet.reservation):
        abort(404)
    path = sheets.sheet_path(current_app.instance_path, sheet)
    if not path.is_file():
        current_app.logger.error("confirmation sheet %s: file %s is missing", sheet.id, sheet.stored_name)
        abort(404)
    response = send_file(path, mimetype="application/pdf", as_attachment=True,
                         download_name=sheets.download_name(sheet), max_age=0, etag=sheet.sha256)
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.get("/verify/<code>")
@limiter.limit(_verify_limit)
def verify(code):
    """Public: what the sheet with this code printed, and whether a later sheet replaced it."""
    normalized = sheets.normalize_code(code)
    sheet = None
    if 0 < len(normalized) <= 16:
        sheet = db.session.scalar(select(ConfirmationSheet).where(ConfirmationSheet.verification_code == normalized))
    if sheet is None:
        return render_template("reservations/verify.html", sheet=None, code=code[:32]), 404
    newest_id = sheets.newest_sheet_id(sheet.reservation_id)
    newest = db.session.get(ConfirmationSheet, newest_id) if newest_id != sheet.id else sheet
    response = current_app.make_response(render_template(
        "reservations/verify.html", sheet=sheet, printed=sheet.printed, rows=sheets.public_rows(sheet.printed),
        code_display=sheets.display_code(sheet.verification_code), newest=newest,
        is_newest=newest.id == sheet.id))
    response.headers["Cache-Control"] = "no-store"
    return response
