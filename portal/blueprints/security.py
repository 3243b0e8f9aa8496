"""The security administrator's pages (安全管理员): live sessions, accounts (lockouts, disabling),
the security policy. No other account reaches them, and the security administrator reaches
nothing else but its home page (三员分立)."""
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from portal.accounts import security_admin, service
from portal.accounts.models import Account, LoginSession
from portal.accounts.rules import is_security_admin
from portal.accounts.sessions import session_id_of
from portal.blueprints.common import id_arg, keyset_page, load_or_404, requires
from portal.errors import PermissionDenied, ValidationFailed
from portal.extensions import db

bp = Blueprint("security", __name__, url_prefix="/security")

#: the route another part of the portal adds for second-factor resets (totp), linked when present
SECOND_FACTOR_RESET_RULE = "/security/second-factor/<int:account_id>/reset"
SEARCH_MAX = 40


def _second_factor_reset_endpoint():
    return next((rule.endpoint for rule in current_app.url_map.iter_rules()
                 if rule.rule == SECOND_FACTOR_RESET_RULE), None)


@bp.get("/")
@requires(is_security_admin)
def sessions():
    query = security_admin.live_sessions_query(current_app.config)
    rows, next_before = keyset_page(query, LoginSession.id, id_arg("before"), descending=True)
    return render_template("security/sessions.html", sessions=rows, next_before=next_before,
                           current_sid=session_id_of(session.get("sid")))


@bp.post("/sessions/<int:session_id>/end")
@requires(is_security_admin)
def end_session(session_id):
    login_session = db.session.get(LoginSession, session_id)
    if login_session is None or not security_admin.end_session_by_admin(current_user, login_session):
        db.session.rollback()
        flash("该会话不存在或已结束", "warning")
    else:
        db.session.commit()
        flash(f"已强制下线 {login_session.account.masked_phone}（{login_session.account.unit.name}）", "success")
    return redirect(url_for("security.sessions"))


@bp.get("/accounts")
@requires(is_security_admin)
def accounts():
    text = request.args.get("q", "")[:SEARCH_MAX].strip()
    query = security_admin.search_accounts_query(text)
    rows, next_after = [], None
    if query is not None:
        rows, next_after = keyset_page(query, Account.id, id_arg("after"))
    policy = security_admin.current_settings(current_app.config)
    locked = security_admin.lockouts([account.phone_key for account in rows], policy["lockout_failures"])
    return render_template("security/accounts.html", accounts=rows, q=text, next_after=next_after, locked=locked,
                           reset_endpoint=_second_factor_reset_endpoint())


def _load_account(account_id):
    return load_or_404(Account, account_id)


def _back_to_accounts():
    # Back to the list the form was on: the search it carried, checked like any typed text.
    text = request.form.get("q", "")[:SEARCH_MAX].strip()
    return redirect(url_for("security.accounts", q=text) if text else url_for("security.accounts"))


@bp.post("/accounts/<int:account_id>/unlock")
@requires(is_security_admin)
def unlock(account_id):
    account = _load_account(account_id)
    cleared = security_admin.unlock(current_user, account)
    db.session.commit()
    flash(f"已解除 {account.masked_phone} 的登录锁定（清除{cleared}次错误记录）", "success")
    return _back_to_accounts()


def _set_active(account_id, active):
    account = db.session.scalar(select(Account).options(joinedload(Account.unit)).where(Account.id == account_id))
    if account is None:
        abort(404)
    try:
        service.set_account_active(current_user, account, active)
    except PermissionDenied:
        db.session.commit()  # the refusal is audited
        flash("不能停用或启用自己的账号", "danger")
        return _back_to_accounts()
    db.session.commit()
    flash(f"已{'启用' if active else '停用'}账号 {account.masked_phone}（{account.unit.name}）", "success")
    return _back_to_accounts()


@bp.post("/accounts/<int:account_id>/disable")
@requires(is_security_admin)
def disable_account(account_id):
    return _set_active(account_id, False)


@bp.post("/accounts/<int:account_id>/enable")
@requires(is_security_admin)
def enable_account(account_id):
    return _set_active(account_id, True)


@bp.route("/settings", methods=["GET", "POST"])
@requires(is_security_admin)
def settings():
    values = security_admin.current_settings(current_app.config)
    errors = {}
    if request.method == "POST":
        typed = {setting.key: request.form.get(setting.key, "")[:20] for setting in security_admin.SETTINGS}
        try:
            changes = security_admin.save_settings(current_user, current_app.config, typed)
        except ValidationFailed as failed:
            db.session.rollback()
            errors, values = failed.errors, typed
        else:
            db.session.commit()
            flash("安全策略已保存" if changes else "安全策略没有变化", "success")
            return redirect(url_for("security.settings"))
    defaults = {setting.key: setting.default(current_app.config) for setting in security_admin.SETTINGS}
    return render_template("security/settings.html", settings=security_admin.SETTINGS, values=values,
                           defaults=defaults, errors=errors), 422 if errors else 200
