"""Failure pages that need nothing: neither the database nor the login session.

Every error page is rendered straight from the Jinja environment, skipping the context processors
(Flask-Login's loads the account, which needs the database), on a layout without navigation. While
the database does not answer, every request gets a Chinese 503 with Retry-After; the process keeps
running and serves again as soon as the database is back.
"""
import logging
import time
import traceback

from flask import current_app, g, make_response, request
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from werkzeug.exceptions import HTTPException, InternalServerError

from portal.extensions import db, htmx, login_manager

log = logging.getLogger(__name__)

MESSAGES = {
    400: ("请求无效", "页面已过期或请求格式不正确，请刷新页面后重试。"),
    403: ("无权访问", "您的账号没有权限查看或操作此内容。"),
    404: ("页面不存在", "您要找的页面或记录不存在，或不在您的权限范围内。"),
    405: ("请求方式不正确", "请通过页面上的按钮操作。"),
    413: ("文件过大", "上传的内容超过{mb} MB，请压缩或拆分后重新上传。"),
    429: ("操作过于频繁", "请求次数超过限制，请稍后再试。"),
    500: ("系统错误", "系统暂时无法处理您的请求，请稍后重试；如仍有问题请联系管理员。"),
    503: ("服务暂不可用", "系统繁忙，请稍后再试。"),
}
OTHER = ("请求无法处理", "系统无法处理此请求，请返回首页后重试。")

#: seconds a client is asked to wait while the database is away
RETRY_AFTER = 30
#: at most one log line per this many seconds while the database is away, not one per request
OUTAGE_LOG_INTERVAL = 60

#: errors that mean "the database does not answer now", not "this request is wrong"
OUTAGE_ERRORS = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError, sa_exc.DisconnectionError)


class DatabaseState:
    """What this process last saw of the database. Until a query succeeded (at start, and after
    an outage) each request first tries one, so that a page needing no query (the login form)
    does not render while its submission would fail."""

    def __init__(self):
        self.answering = False
        self.logged_at = None

    def down(self, error):
        self.answering = False
        now = time.monotonic()
        if self.logged_at is None or now - self.logged_at >= OUTAGE_LOG_INTERVAL:
            self.logged_at = now
            log.warning("database unavailable, answering 503: %s", type(getattr(error, "orig", None) or error).__name__)

    def up(self):
        if self.logged_at is not None:
            log.warning("database answering again")
        self.answering, self.logged_at = True, None


def is_outage(error):
    return isinstance(error, OUTAGE_ERRORS) or bool(getattr(error, "connection_invalidated", False))


def database_state():
    return current_app.extensions["portal_database"]


def render_failure(code, title=None, message=None):
    """The error page, or for HTMX the message fragment, as a response with `code`."""
    default_title, default_message = MESSAGES.get(code, OTHER)
    message = (message or default_message).format(mb=current_app.config.get("VOUCHER_MAX_MB", ""))
    name = "errors/_message.html" if htmx else "errors/error.html"
    body = current_app.jinja_env.get_template(name).render(code=code, title=title or default_title, message=message)
    response = make_response(body, code)
    response.vary.add("HX-Request")
    if code == 503:
        response.headers["Retry-After"] = str(RETRY_AFTER)
    return response


def _forget_database_work():
    """After a lost connection: drop the transaction (the pool invalidates dead connections
    itself) and stop the account from being loaded again while this request ends."""
    try:
        db.session.rollback()
    except Exception:  # the connection is gone already; the session is discarded at teardown
        pass
    g._login_user = login_manager.anonymous_user()


def handle_outage(error):
    if not is_outage(error):
        raise error  # a wrong statement is a bug: the 500 path logs it
    _forget_database_work()
    database_state().down(error)
    return render_failure(503)


def handle_http(error):
    title = message = None
    if error.code == 400 and "CSRF" in str(getattr(error, "description", "") or ""):
        message = "页面已过期（安全令牌失效），请刷新页面后重试。"
    response = render_failure(error.code, title, message)
    for name, value in error.get_headers():  # Allow on 405, Retry-After on 429
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def handle_server_error(error):
    """Flask has logged the traceback once already (through the scrubbing filter below)."""
    original = getattr(error, "original_exception", None)
    if original is not None and is_outage(original):
        _forget_database_work()
        database_state().down(original)
        return render_failure(503)
    return render_failure(500)


def check_database_first():
    """Before a request, while this process has not seen the database answer: try it once."""
    state = database_state()
    if state.answering or request.endpoint in (None, "static", "health.healthz"):
        return
    with db.engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    state.up()


class ScrubbedTracebacks(logging.Filter):
    """Logged tracebacks without personal data: SQL parameters (phones, names, amounts) and the
    DETAIL line of a PostgreSQL constraint error (which quotes the row's values) are left out."""

    def filter(self, record):
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            seen = set()
            while error is not None and id(error) not in seen:
                seen.add(id(error))
                if isinstance(error, sa_exc.StatementError):
                    error.hide_parameters = True
                error = error.__cause__ or error.__context__
            lines = "".join(traceback.format_exception(*record.exc_info)).splitlines()
            record.exc_text = "\n".join(line for line in lines if not line.lstrip().startswith("DETAIL:"))
        return True


def register_error_handlers(app):
    app.extensions["portal_database"] = DatabaseState()
    app.before_request(check_database_first)
    app.register_error_handler(HTTPException, handle_http)
    app.register_error_handler(InternalServerError, handle_server_error)
    for error_class in (sa_exc.DBAPIError, sa_exc.TimeoutError, sa_exc.DisconnectionError):
        app.register_error_handler(error_class, handle_outage)
    if not any(isinstance(f, ScrubbedTracebacks) for f in app.logger.filters):  # one logger for all apps
        app.logger.addFilter(ScrubbedTracebacks())
