from flask import Blueprint, jsonify
from sqlalchemy import text

from portal.blueprints.errors import RETRY_AFTER, database_state, is_outage
from portal.extensions import db, limiter

bp = Blueprint("health", __name__)


@bp.get("/healthz")
@limiter.exempt
def healthz():
    try:
        db.session.execute(text("SELECT 1"))
    except Exception as exc:  # any driver error means the database does not answer
        try:
            db.session.rollback()
        except Exception:  # the connection is gone; the session is discarded at teardown
            pass
        if is_outage(exc):
            database_state().down(exc)
        return jsonify(status="error", detail=type(exc).__name__), 503, {"Retry-After": str(RETRY_AFTER)}
    database_state().up()
    return jsonify(status="ok")
