"""广东省东西部协作消费帮扶门户: the application factory."""
from pathlib import Path

from flask import Flask, g, request, session

from portal import clock
from portal.config import PROJECT_ROOT, load_settings
from portal.extensions import csrf, db, htmx, limiter, login_manager, migrate
from portal.security_headers import init_security_headers


def create_app(overrides=None):
    app = Flask(__name__, instance_path=None)
    app.config.from_mapping(load_settings(overrides))
    app.instance_path = app.config["PORTAL_INSTANCE"]
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    if app.config["TRUSTED_PROXIES"]:
        # Behind nginx: take the client's address (audit, rate limits) from X-Forwarded-For.
        from werkzeug.middleware.proxy_fix import ProxyFix
        proxies = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)

    from portal import models  # noqa: F401  (every table, for the metadata and Alembic)
    import portal.notifications  # noqa: F401  (the SMS job handler; the others come with their blueprints)

    db.init_app(app)
    _init_sqlite(app)
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "migrations"), render_as_batch=True)
    csrf.init_app(app)
    htmx.init_app(app)
    limiter.init_app(app)
    _init_login(app)
    _init_templates(app)
    init_security_headers(app)

    from portal import http
    from portal.blueprints import register_blueprints
    http.install(app)  # before the routes: they take its `int` converter
    register_blueprints(app)

    from portal.cli import register_commands
    register_commands(app)
    return app


def _init_sqlite(app):
    """The embedded database's settings, on each new connection: write-ahead logging, so that
    readers and the one writer do not block each other, and a commit syncs the log only at
    checkpoints (a power cut can lose the last commits, never the file's consistency)."""
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        return
    from sqlalchemy import event

    with app.app_context():
        @event.listens_for(db.engine, "connect")
        def _set_pragmas(dbapi_connection, connection_record):
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()


def _init_login(app):
    from portal.accounts.sessions import resolve_under_policy
    from portal.blueprints import second_factor
    from portal.blueprints.common import commit_keeping_loaded

    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "请先登录"
    login_manager.login_message_category = "warning"
    # No remember-me cookie: a session lives only as long as its server-side row, under the
    # timeouts of the security policy (安全管理员), read on each request.

    @login_manager.user_loader
    def load_account(account_id):
        login_session = resolve_under_policy(session.get("sid"), app.config)
        if db.session.dirty or db.session.new:
            # a touch, or an ended session and its audit row; nothing else is pending this early, and
            # the session, account and unit just read stay loaded (expired, each would be read again)
            commit_keeping_loaded()
        if login_session is None or str(login_session.account_id) != account_id:
            session.pop("sid", None)
            return None
        g.login_session = login_session  # the second-factor pages read its state
        if login_session.second_factor_pending and request.endpoint not in second_factor.OPEN_ENDPOINTS:
            return None  # owes the second factor: logged in nowhere but its pages, whatever the cookie says
        return login_session.account


def _init_templates(app):
    from portal.accounts.kinds import UnitKind

    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
    app.jinja_env.filters["datetime"] = clock.format_datetime
    app.jinja_env.filters["date"] = clock.format_date
    app.jinja_env.filters["date_long"] = clock.format_date_long
    app.jinja_env.filters["money"] = clock.format_money
    app.jinja_env.filters["quantity"] = clock.format_quantity
    app.jinja_env.globals["UnitKind"] = UnitKind
