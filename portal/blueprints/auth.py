"""Login by mobile number and SMS code, logout, and enterprise self-registration.

What a stranger can learn here is the same for every number: the answers to code requests and
to wrong codes, and the work done before them, do not depend on whether the number has an
account (see portal/accounts/codes.py for the limits only the owner can end).
"""
import json
from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, make_response, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from portal import audit
from portal.accounts import captcha, lifecycle, service
from portal.accounts import second_factor
from portal.accounts.codes import REASON_LABELS, CodePolicy, CodeRefused, check_code, issue_code
from portal.accounts.models import Account, mask_phone
from portal.accounts.sessions import end_session, start_session
from portal.accounts.validators import MOBILE_FORMAT_MESSAGE, normalize_mobile
from portal.blueprints.common import apply_errors, fragment
from portal.blueprints.second_factor import NEXT_KEY as SECOND_FACTOR_NEXT
from portal.blueprints.second_factor import PENDING_KEY as SECOND_FACTOR_PENDING
from portal.clock import utcnow
from portal.errors import ValidationFailed
from portal.extensions import db, limiter
from portal.forms.auth import LoginForm, PhoneForm, RegisterForm
from portal.notifications import notify
from portal.reference.models import GuangdongCity

bp = Blueprint("auth", __name__)

PURPOSE_TEXT = {"login": "登录", "register": "注册"}
#: one answer to a code request, true whether or not the number has an account
SENT = {
    "login": "如该手机号已开通账号，验证码已发送至 {phone}，{minutes}分钟内有效",
    "register": "短信已发送至 {phone}，请查收：验证码{minutes}分钟内有效；如该手机号已开通账号，短信将提示您直接登录",
}
#: what the owner of a registered number receives instead of a registration code
ALREADY_REGISTERED_SMS = "该手机号已开通账号，无需重复注册，请直接使用手机号和短信验证码登录。如非本人操作，请忽略本短信。"
#: an image costs a few milliseconds to draw
CAPTCHA_IP_LIMIT = "60 per minute"


def _policy():
    return CodePolicy.from_config(current_app.config)


def _ip_limit(name):
    return lambda: current_app.config[name]


def _captcha_on():
    return current_app.config["LOGIN_CAPTCHA"] == "on"


def _captcha_text():
    """The text of a new captcha; tests set CAPTCHA_TEXT_FACTORY to know it, as a person reads it."""
    return (current_app.config.get("CAPTCHA_TEXT_FACTORY") or captcha.random_text)()


def _captcha_passed(form):
    """Check the captcha of this session, using it up whatever the answer."""
    if not _captcha_on():
        return True
    issued = session.pop(captcha.SESSION_KEY, None)
    return captcha.check(current_app.config["SECRET_KEY"], issued, form.captcha.data, utcnow())


def _code_status(ok, message, *, status=200, captcha_message="", refresh=None):
    """The answer to a code request: its message under the code field, the captcha's beside the
    captcha, and (when the captcha was used up) the event on which portal.js shows a new one."""
    response = fragment("auth/_code_status.html", "status", ok=ok, message=message,
                        captcha_on=_captcha_on(), captcha_message=captcha_message)
    response.status_code = status
    if refresh is not None and _captcha_on():
        response.headers["HX-Trigger"] = json.dumps({"captchaRefresh": {"focus": refresh == "focus"}})
    return response


def _send_code(form, purpose):
    """Issue a code and answer the same whether or not the number has an account.

    Login: only an active account's number receives the code. Registration: an unknown number
    receives the code, a registered one a message saying so. Either way a code row is counted
    for the limits, and the same queries run.
    """
    phone = normalize_mobile(form.phone.data)
    if phone is None:
        return _code_status(False, MOBILE_FORMAT_MESSAGE, status=422)
    if not _captcha_passed(form):
        db.session.commit()  # the captcha's use is kept
        return _code_status(False, "", status=422, captcha_message=captcha.WRONG, refresh="focus")
    account = db.session.scalar(select(Account).options(joinedload(Account.unit)).where(Account.with_phone(phone)))
    if purpose == "login":
        deliver, notice = account is not None and account.is_active, None
    else:
        deliver, notice = account is None, ALREADY_REGISTERED_SMS if account is not None else None
    try:
        row, code = issue_code(_policy(), phone, purpose, deliver=deliver, ip=request.remote_addr)
    except CodeRefused as refused:
        audit.record("code_refused", object_ref=f"phone:{mask_phone(phone)}", result="denied",
                     detail={"purpose": purpose, "reason": refused.reason})
        db.session.commit()
        return _code_status(False, refused.message, status=422, refresh="quiet")
    audit.record("code_sent", actor=account if purpose == "login" else None, object_ref=f"phone:{mask_phone(phone)}",
                 detail={"purpose": purpose, "delivered": deliver})
    minutes = current_app.config["LOGIN_CODE_TTL_MINUTES"]
    text, kind = (f"您的{PURPOSE_TEXT[purpose]}验证码为{code}，{minutes}分钟内有效。如非本人操作，请忽略本短信。",
                  f"{purpose}_code")
    if notice:
        text, kind = notice, "register_notice"
    # A message job for every number, known or not (the worker sends only those due), so that the
    # answer and its SQL are the same; a code nobody received in time is not sent late.
    notify(phone, text, kind, deliver=deliver or bool(notice), expires_at=row.expires_at)
    db.session.commit()
    return _code_status(True, SENT[purpose].format(phone=mask_phone(phone), minutes=minutes), refresh="quiet")


def _expired_page():
    return _code_status(False, "页面已过期，请刷新后重试", status=400)


def _safe_next(target):
    if target and urlsplit(target).netloc == "" and target.startswith("/") and not target.startswith("//"):
        return target
    return url_for("home.index")


@bp.get("/captcha", endpoint="captcha")
@limiter.limit(CAPTCHA_IP_LIMIT)
def captcha_image():
    """A new graphic captcha for this session, as a PNG that no cache keeps."""
    text = _captcha_text()
    session[captcha.SESSION_KEY] = captcha.issue(current_app.config["SECRET_KEY"], text, utcnow())
    response = make_response(captcha.render_png(text))
    response.headers["Content-Type"] = "image/png"
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/login")
def login():
    if current_user.is_authenticated:
        return redirect(url_for("home.index"))
    form = LoginForm(data={"next": request.args.get("next", "")})
    return render_template("auth/login.html", form=form)


@bp.post("/login/code")
@limiter.limit(_ip_limit("SMS_SEND_IP_LIMIT"), methods=["POST"])
def send_login_code():
    form = PhoneForm()
    if not form.validate_on_submit():
        return _expired_page()
    return _send_code(form, "login")


def _refuse_login(form, field, message, reason, phone):
    audit.record("login_failed", object_ref=f"phone:{mask_phone(phone)}", result="failed",
                 detail={"reason": REASON_LABELS.get(reason, reason)})
    db.session.commit()
    apply_errors(form, {field: message})
    return render_template("auth/login.html", form=form), 422


@bp.post("/login")
@limiter.limit(_ip_limit("LOGIN_IP_LIMIT"), methods=["POST"])
def login_submit():
    form = LoginForm()
    if not form.validate_on_submit():
        return render_template("auth/login.html", form=form), 400
    phone = normalize_mobile(form.phone.data)
    if phone is None:
        apply_errors(form, {"phone": MOBILE_FORMAT_MESSAGE})
        return render_template("auth/login.html", form=form), 422
    try:
        check_code(_policy(), phone, "login", form.code.data, ip=request.remote_addr)
    except CodeRefused as refused:
        return _refuse_login(form, "code", refused.message, refused.reason, phone)
    account = db.session.scalar(select(Account).where(Account.with_phone(phone)))
    if account is None or not account.is_active:
        # A code is only ever delivered to an active account: this one was disabled since.
        return _refuse_login(form, "phone", "该账号已停用，请联系开通账号的单位", "账号已停用", phone)
    days = current_app.config["ACCOUNT_DORMANT_DAYS"]
    if lifecycle.is_dormant(account, days):
        # Unused too long: disabled now (the daily disable-dormant may not have run yet).
        lifecycle.disable_dormant_account(account, days)
        return _refuse_login(form, "phone", lifecycle.dormant_message(account, days), "账号长期未使用已停用", phone)

    session.clear()  # a new session at login: nothing carried over from before
    # The second factor, when the account has or needs one, is still owed: until it is given,
    # the session reaches only its pages (blueprints/second_factor.py).
    owed = second_factor.owed(account)
    session["sid"] = start_session(account, ip=request.remote_addr, second_factor_pending=owed)
    login_user(account)
    # 上次登录信息: the home page tells the previous login's time, address and failures since
    session["previous_login"] = lifecycle.note_login(account, request.remote_addr)
    audit.record("login", actor=account, object_ref=f"account:{account.id}")
    db.session.commit()
    if owed:
        session[SECOND_FACTOR_PENDING] = True
        session[SECOND_FACTOR_NEXT] = _safe_next(form.next.data)
        return redirect(url_for("second_factor.index"))
    return redirect(_safe_next(form.next.data))


@bp.post("/logout")
def logout():
    if current_user.is_authenticated:
        audit.record("logout", object_ref=f"account:{current_user.id}")
        end_session(session.get("sid", ""))
        db.session.commit()
    logout_user()
    session.clear()
    flash("您已安全退出", "success")
    return redirect(url_for("auth.login"))


def _register_form():
    form = RegisterForm()
    cities = db.session.scalars(select(GuangdongCity).order_by(GuangdongCity.code))
    form.city_code.choices = [("", "请选择")] + [(city.code, city.name) for city in cities]
    return form


@bp.get("/register")
def register():
    return render_template("auth/register.html", form=_register_form())


@bp.post("/register/code")
@limiter.limit(_ip_limit("SMS_SEND_IP_LIMIT"), methods=["POST"])
def send_register_code():
    form = PhoneForm()
    if not form.validate_on_submit():
        return _expired_page()
    return _send_code(form, "register")


@bp.post("/register")
@limiter.limit(_ip_limit("LOGIN_IP_LIMIT"), methods=["POST"])
def register_submit():
    form = _register_form()
    if not form.validate_on_submit():
        return render_template("auth/register.html", form=form), 400
    fields = {name: getattr(form, name).data for name in ("name", "credit_code", "contact_name", "phone",
                                                          "city_code")}
    errors = service.check_registration(**fields)
    if errors:
        apply_errors(form, errors)
        return render_template("auth/register.html", form=form), 422
    phone = normalize_mobile(form.phone.data)
    try:
        check_code(_policy(), phone, "register", form.code.data, ip=request.remote_addr)
    except CodeRefused as refused:
        db.session.commit()  # the wrong try is counted
        apply_errors(form, {"code": refused.message})
        return render_template("auth/register.html", form=form), 422
    try:
        service.register_enterprise(**fields)
    except ValidationFailed as failed:
        db.session.rollback()
        apply_errors(form, failed.errors)
        return render_template("auth/register.html", form=form), 422
    db.session.commit()
    flash("注册成功，请使用手机号和短信验证码登录", "success")
    return redirect(url_for("auth.login"))
