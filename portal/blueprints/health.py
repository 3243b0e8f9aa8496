from flask import Blueprint, jsonify
from sqlalchemy import text

from portal.extensions import db, limiter

bp = Blueprint("health", __name__)


@bp.get("/healthz")
@limiter.exempt
def healthz():
    try:
        db.session.execute(text("SELECT 1"))
    except Exception as exc:  # any driver error means the database does not answer
        db.session.rollback()
        return jsonify(status="error", detail=type(exc).__name__), 503
    return jsonify(status="ok")
