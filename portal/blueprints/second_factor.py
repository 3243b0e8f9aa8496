"""The second factor after the SMS code: enrolment (QR code, confirmation, recovery codes shown
once), the code page of a login that still owes it, the personal page, and the security
administrator's reset.

A session that passed the SMS code but not the second factor reaches nothing else: the guard
below sends every other request here (static files and logout excepted).
"""
import segno
from flask import Blueprint, abort, flash, g, make_response, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, logout_user
from flask_wtf import FlaskForm
from wtforms import HiddenField, StringField

from portal.accounts import second_factor as factor
from portal.accounts.models import Account
from portal.blueprints.common import load_or_404
from portal.extensions import db

bp = Blueprint("second_factor", __name__)

#: where a half-logged-in session may go (the health check reads no account at all)
OPEN_ENDPOINTS = {"static", "auth.logout", "health.healthz", "second_factor.index", "second_factor.enrol",
                  "second_factor.enrol_submit", "second_factor.verify", "second_factor.verify_submit"}
NEXT_KEY = "second_factor_next"
#: in the signed cookie from the SMS code until the second factor: the guard needs no query (the
#: session row decides in the account loader, portal/__init__.py, should the two ever disagree)
PENDING_KEY = "second_factor_pending"
#: the secret being enrolled, SM4-sealed to the account, until a code confirms it
ENROL_KEY = "second_factor_enrol"


class CodeForm(FlaskForm):
    code = StringField("验证码", render_kw={"autocomplete": "one-time-code", "maxlength": 24,
                                         "autocapitalize": "characters", "spellcheck": "false"})


class ResetForm(FlaskForm):
    next = HiddenField()


def _login_session():
    return g.get("login_session")


def pending():
    """Whether this request's session still owes the second factor, by its row."""
    login_session = _login_session() if current_user.is_authenticated else None
    return bool(login_session is not None and login_session.second_factor_pending)


@bp.before_app_request
def guard():
    # The cookie's flag, not a query: a page (an error page too) costs nothing more.
    g.second_factor_pending = bool(session.get("sid") and session.get(PENDING_KEY))
    if request.endpoint in OPEN_ENDPOINTS or not g.second_factor_pending:
        return None
    target = url_for("second_factor.index")
    if request.headers.get("HX-Request"):
        response = make_response("", 200)
        response.headers["HX-Redirect"] = target  # a fragment swap would hide the redirect
        return response
    return redirect(target)


@bp.app_context_processor
def second_factor_state():
    return {"second_factor_pending": g.get("second_factor_pending", False)}


def _next_url():
    target = session.get(NEXT_KEY) or ""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("home.index")


@bp.get("/second-factor")
@login_required
def index():
    if not pending():
        session.pop(PENDING_KEY, None)  # a stale flag would send every page here
    else:
        session[PENDING_KEY] = True  # the row decides; the cookie's flag follows it
        if factor.is_enrolled(current_user):
            return redirect(url_for("second_factor.verify"))
        return redirect(url_for("second_factor.enrol"))
    return render_template("second_factor/index.html", enrolled=factor.is_enrolled(current_user),
                           factor=factor.factor_of(current_user), left=factor.recovery_codes_left(current_user),
                           required=factor.requires_second_factor(current_user))


def _enrol_page(form, status=200):
    try:
        secret, session[ENROL_KEY] = factor.start_enrolment(current_user, session.get(ENROL_KEY))
    except factor.SecondFactorError as refused:
        flash(refused.message, "info")
        return redirect(url_for("second_factor.index"))
    uri = factor.provisioning_uri(current_user, secret)
    qr = segno.make(uri, error="m").png_data_uri(scale=5, border=2)
    grouped = " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))
    return render_template("second_factor/enrol.html", form=form, qr=qr, secret=grouped, issuer=factor.ISSUER,
                           pending=pending(), required=factor.requires_second_factor(current_user)), status


@bp.get("/second-factor/enrol")
@login_required
def enrol():
    return _enrol_page(CodeForm())


@bp.post("/second-factor/enrol")
@login_required
def enrol_submit():
    form = CodeForm()
    if not form.validate_on_submit():
        return _enrol_page(form, 400)
    try:
        codes = factor.confirm_enrolment(current_user, session.get(ENROL_KEY), form.code.data)
    except factor.SecondFactorError as refused:
        db.session.rollback()
        form.code.errors = [refused.message]
        return _enrol_page(form, 422)
    session.pop(ENROL_KEY, None)
    was_pending = pending()
    if was_pending:
        # The confirmation code proved the app holds the secret: it is this login's second factor.
        factor.pass_session(_login_session(), "enrolment")
        session.pop(PENDING_KEY, None)
    db.session.commit()
    continue_to = _next_url() if was_pending else url_for("second_factor.index")
    session.pop(NEXT_KEY, None)
    response = make_response(render_template("second_factor/recovery_codes.html", codes=codes,
                                              continue_to=continue_to))
    response.headers["Cache-Control"] = "no-store"  # shown once: not kept by the browser either
    return response


@bp.get("/second-factor/verify")
@login_required
def verify():
    if not pending():
        return redirect(url_for("second_factor.index"))
    if not factor.is_enrolled(current_user):
        return redirect(url_for("second_factor.enrol"))
    return render_template("second_factor/verify.html", form=CodeForm())


@bp.post("/second-factor/verify")
@login_required
def verify_submit():
    if not pending():
        return redirect(url_for("second_factor.index"))
    form = CodeForm()
    if not form.validate_on_submit():
        return render_template("second_factor/verify.html", form=form), 400
    login_session = _login_session()
    try:
        method = factor.verify(current_user, form.code.data)
    except factor.SecondFactorError as refused:
        db.session.rollback()
        if refused.reason == "not_enrolled":
            return redirect(url_for("second_factor.enrol"))
        if factor.fail_session(login_session, refused.reason):
            db.session.commit()
            logout_user()
            session.clear()
            flash("验证码错误次数过多，本次登录已结束，请重新登录", "danger")
            return redirect(url_for("auth.login"))
        db.session.commit()
        left = factor.MAX_FAILURES - login_session.second_factor_failures
        form.code.errors = [f"{refused.message}（还可尝试{left}次）"]
        return render_template("second_factor/verify.html", form=form), 422
    factor.pass_session(login_session, method)
    db.session.commit()
    session.pop(PENDING_KEY, None)
    if method == "recovery_code":
        left = factor.recovery_codes_left(current_user)
        flash(f"已使用一个恢复码，剩余{left}个；恢复码用完前请联系安全管理员重置双因素认证", "warning")
    target = _next_url()
    session.pop(NEXT_KEY, None)
    return redirect(target)


@bp.post("/security/second-factor/<int:account_id>/reset")
@login_required
def reset(account_id):
    """The security administrator's reset of another account's second factor (any unit)."""
    form = ResetForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        if not factor.may_reset(current_user):
            factor.refuse_reset(current_user, account_id)  # before loading: no hint whether it exists
        account = load_or_404(Account, account_id)
        factor.reset(current_user, account)
    except factor.SecondFactorError:
        db.session.commit()  # the refusal is audited
        abort(403)
    db.session.commit()
    flash(f"已重置 {account.name}（{account.masked_phone}）的双因素认证，其下次登录时需重新绑定", "success")
    target = form.next.data or ""
    if not (target.startswith("/") and not target.startswith("//") and "\\" not in target):
        target = url_for("home.index")
    return redirect(target)
