"""Login by mobile number and SMS code, logout, and enterprise self-registration."""
from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user
from sqlalchemy import select

from portal import audit
from portal.accounts import service
from portal.accounts.codes import CodePolicy, CodeRefused, check_code, issue_code
from portal.accounts.models import Account, mask_phone
from portal.accounts.sessions import end_session, start_session
from portal.accounts.sms import send_sms
from portal.accounts.validators import normalize_mobile
from portal.blueprints.common import apply_errors, fragment
from portal.clock import utcnow
from portal.errors import ValidationFailed
from portal.extensions import db, limiter
from portal.forms.auth import LoginForm, PhoneForm, RegisterForm
from portal.reference.models import GuangdongCity

bp = Blueprint("auth", __name__)

PURPOSE_TEXT = {"login": "登录", "register": "注册"}


def _policy():
    return CodePolicy.from_config(current_app.config)


def _ip_limit(name):
    return lambda: current_app.config[name]


def _send_code(phone_value, purpose, deliver_to_known_only):
    """Issue a code and say the same thing whether or not the number has an account."""
    phone = normalize_mobile(phone_value)
    if phone is None:
        return None, "手机号码格式不正确，请输入11位大陆手机号"
    account = db.session.scalar(select(Account).where(Account.phone == phone))
    deliver = (account is not None and account.is_active) if deliver_to_known_only else True
    try:
        _, code = issue_code(_policy(), phone, purpose, deliver=deliver, ip=request.remote_addr)
    except CodeRefused as refused:
        audit.record("code_refused", object_ref=f"phone:{mask_phone(phone)}", result="denied",
                     detail={"purpose": purpose, "reason": refused.message})
        db.session.commit()
        return None, refused.message
    audit.record("code_sent", actor=account if deliver_to_known_only else None,
                 object_ref=f"phone:{mask_phone(phone)}", detail={"purpose": purpose, "delivered": deliver})
    db.session.commit()
    if deliver:
        minutes = current_app.config["LOGIN_CODE_TTL_MINUTES"]
        send_sms(phone, f"您的{PURPOSE_TEXT[purpose]}验证码为{code}，{minutes}分钟内有效。"
                        "如非本人操作，请忽略本短信。", kind=f"{purpose}_code")
    return phone, None


def _safe_next(target):
    if target and urlsplit(target).netloc == "" and target.startswith("/") and not target.startswith("//"):
        return target
    return url_for("home.index")


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
        return fragment("auth/_code_status.html", "status", ok=False,
                        message="页面已过期，请刷新后重试"), 400
    phone, error = _send_code(form.phone.data, "login", deliver_to_known_only=True)
    status = 422 if error else 200
    message = error or f"验证码已发送至 {mask_phone(phone)}，{current_app.config['LOGIN_CODE_TTL_MINUTES']}分钟内有效"
    return fragment("auth/_code_status.html", "status", ok=error is None, message=message), status


@bp.post("/login")
@limiter.limit(_ip_limit("LOGIN_IP_LIMIT"), methods=["POST"])
def login_submit():
    form = LoginForm()
    if not form.validate_on_submit():
        return render_template("auth/login.html", form=form), 400
    phone = normalize_mobile(form.phone.data)
    if phone is None:
        apply_errors(form, {"phone": "手机号码格式不正确，请输入11位大陆手机号"})
        return render_template("auth/login.html", form=form), 422
    try:
        check_code(_policy(), phone, "login", form.code.data)
    except CodeRefused as refused:
        audit.record("login_failed", object_ref=f"phone:{mask_phone(phone)}", result="failed",
                     detail={"reason": refused.message})
        db.session.commit()
        apply_errors(form, {"code": refused.message})
        return render_template("auth/login.html", form=form), 422
    account = db.session.scalar(select(Account).where(Account.phone == phone))
    if account is None or not account.is_active:
        # A code is only ever delivered to an active account; this is a disabled one.
        audit.record("login_failed", object_ref=f"phone:{mask_phone(phone)}", result="failed",
                     detail={"reason": "账号已停用"})
        db.session.commit()
        apply_errors(form, {"phone": "该账号已停用，请联系开通账号的单位"})
        return render_template("auth/login.html", form=form), 422

    session.clear()  # a new session at login: nothing carried over from before
    session["sid"] = start_session(account, ip=request.remote_addr)
    login_user(account)
    account.last_login_at = utcnow()
    audit.record("login", actor=account, object_ref=f"account:{account.id}")
    db.session.commit()
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
        return fragment("auth/_code_status.html", "status", ok=False,
                        message="页面已过期，请刷新后重试"), 400
    phone = normalize_mobile(form.phone.data)
    if phone is not None and service.phone_taken(phone):
        return fragment("auth/_code_status.html", "status", ok=False,
                        message="该手机号已开通账号，请直接登录"), 422
    phone, error = _send_code(form.phone.data, "register", deliver_to_known_only=False)
    message = error or f"验证码已发送至 {mask_phone(phone)}，{current_app.config['LOGIN_CODE_TTL_MINUTES']}分钟内有效"
    return fragment("auth/_code_status.html", "status", ok=error is None, message=message), 422 if error else 200


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
        check_code(_policy(), phone, "register", form.code.data)
    except CodeRefused as refused:
        db.session.commit()
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
