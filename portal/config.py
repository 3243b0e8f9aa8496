"""Settings read from environment variables, with safe defaults for a local install."""
import os
from decimal import Decimal
from urllib.parse import urlsplit
from pathlib import Path

from portal.crypto import DEVELOPMENT_DATA_KEYS, KeyConfigurationError, parse_keys

PROJECT_ROOT = Path(__file__).resolve().parent.parent

#: The key a development install runs with; production refuses to start with it.
DEVELOPMENT_SECRET_KEY = "development-only-secret-key-change-me"
#: the audit chain's key (HMAC-SM3) of a development install; production refuses it
DEVELOPMENT_AUDIT_KEY = "development-only-audit-key-change-me"
#: the Cybersecurity Law's six months: audit rows younger than this are never removed
AUDIT_RETENTION_FLOOR_DAYS = 180
#: the address a development install serves; production refuses it (it is printed in QR codes)
DEVELOPMENT_BASE_URL = "http://127.0.0.1:5000"
#: gunicorn's workers when WEB_CONCURRENCY is unset: the same default as gunicorn.conf.py
DEFAULT_WEB_CONCURRENCY = 4
#: SMS backends that deliver nothing to a phone: for a local install and the tests only
LOCAL_SMS_BACKENDS = ("outbox", "console")


class ConfigurationError(RuntimeError):
    """The settings would make an unsafe or broken deployment."""


def _int(name, default):
    return int(os.environ.get(name, default))


def load_settings(overrides=None):
    """Build the Flask config mapping from the environment, then apply overrides."""
    instance = Path(os.environ.get("PORTAL_INSTANCE", PROJECT_ROOT / "instance")).resolve()
    env = os.environ.get("PORTAL_ENV", "development")
    files_dir = os.environ.get("FILES_DIR", "").strip()
    settings = {
        "PORTAL_ENV": env,
        "PORTAL_INSTANCE": str(instance),
        #: the folder of vouchers and sheets (portal/storage.py): "" keeps them in the instance
        #: folder; several app servers set it to one shared mount (NFS, CephFS)
        "FILES_DIR": str(Path(files_dir).resolve()) if files_dir else "",
        "SECRET_KEY": os.environ.get("SECRET_KEY", DEVELOPMENT_SECRET_KEY),
        "SQLALCHEMY_DATABASE_URI": os.environ.get("DATABASE_URL")
        or f"sqlite:///{instance / 'portal.sqlite3'}",
        "SMS_BACKEND": os.environ.get("SMS_BACKEND", "outbox"),
        "SMS_HTTP_URL": os.environ.get("SMS_HTTP_URL", ""),
        "SMS_HTTP_TOKEN": os.environ.get("SMS_HTTP_TOKEN", ""),
        "SMS_SIGNATURE": os.environ.get("SMS_SIGNATURE", "【消费帮扶门户】"),
        "REDIS_URL": os.environ.get("REDIS_URL", ""),
        # Login codes (minutes, counts): the rules, overridable for a pilot.
        "LOGIN_CODE_TTL_MINUTES": _int("LOGIN_CODE_TTL_MINUTES", 5),
        "LOGIN_CODE_MAX_ATTEMPTS": _int("LOGIN_CODE_MAX_ATTEMPTS", 5),
        "SMS_LIMIT_PER_MINUTE": _int("SMS_LIMIT_PER_MINUTE", 1),
        "SMS_LIMIT_PER_HOUR": _int("SMS_LIMIT_PER_HOUR", 5),
        "SMS_LIMIT_PER_DAY": _int("SMS_LIMIT_PER_DAY", 10),
        "SMS_SEND_IP_LIMIT": os.environ.get("SMS_SEND_IP_LIMIT", "30 per hour"),
        "LOGIN_IP_LIMIT": os.environ.get("LOGIN_IP_LIMIT", "60 per hour"),
        #: the graphic captcha before an SMS code is sent: "off" only for local scripts and
        #: automated checks (refused in production)
        "LOGIN_CAPTCHA": os.environ.get("LOGIN_CAPTCHA", "on").strip().lower(),
        #: the public page that verifies a printed confirmation sheet by its code
        "VERIFY_IP_LIMIT": os.environ.get("VERIFY_IP_LIMIT", "60 per minute"),
        # Sessions: idle and absolute timeouts, enforced on the server side.
        "SESSION_IDLE_MINUTES": _int("SESSION_IDLE_MINUTES", 30),
        "SESSION_ABSOLUTE_HOURS": _int("SESSION_ABSOLUTE_HOURS", 12),
        #: an account unused this many days is disabled (`flask disable-dormant`, and at its login)
        "ACCOUNT_DORMANT_DAYS": _int("ACCOUNT_DORMANT_DAYS", 180),
        "SESSION_COOKIE_NAME": "portal_session",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": env == "production",
        "WTF_CSRF_TIME_LIMIT": None,  # the session lifetime bounds the token already
        "PAGE_SIZE": _int("PAGE_SIZE", 50),
        #: records above this amount (元) are flagged for the reviewer
        "RECORD_AMOUNT_ALERT": Decimal(os.environ.get("RECORD_AMOUNT_ALERT", "500000")),
        "VOUCHER_MAX_MB": _int("VOUCHER_MAX_MB", 10),
        "EXPORT_MAX_ROWS": _int("EXPORT_MAX_ROWS", 200000),
        #: a list export over this many rows is written by the worker (jobs/exports.py)
        "EXPORT_INLINE_ROWS": _int("EXPORT_INLINE_ROWS", 5000),
        "IMPORT_MAX_ROWS": _int("IMPORT_MAX_ROWS", 5000),
        #: the portal's address as people reach it, printed in the QR codes of confirmation sheets
        "PUBLIC_BASE_URL": os.environ.get("PUBLIC_BASE_URL", DEVELOPMENT_BASE_URL).rstrip("/"),
        #: web server processes on this machine (gunicorn reads the same variable): with more than
        #: one, rate limits need a store they share (REDIS_URL)
        "WEB_CONCURRENCY": _int("WEB_CONCURRENCY", DEFAULT_WEB_CONCURRENCY),
        #: reverse proxies in front (nginx: 1), whose X-Forwarded-* headers are trusted
        "TRUSTED_PROXIES": _int("TRUSTED_PROXIES", 0),
        #: SM4 keys for data at rest (portal/crypto.py): `keyid:hex32,...`, the first current
        "DATA_KEYS": os.environ.get("DATA_KEYS", DEVELOPMENT_DATA_KEYS),
        #: keys the hash chain of the audit trail (HMAC-SM3); kept outside the database
        "AUDIT_HMAC_KEY": os.environ.get("AUDIT_HMAC_KEY", DEVELOPMENT_AUDIT_KEY),
        "AUDIT_RETENTION_DAYS": _int("AUDIT_RETENTION_DAYS", AUDIT_RETENTION_FLOOR_DAYS),
    }
    uri = settings["SQLALCHEMY_DATABASE_URI"]
    if uri.startswith("postgres://"):
        uri = "postgresql://" + uri[len("postgres://"):]
    if uri.startswith("postgresql://"):
        uri = "postgresql+psycopg://" + uri[len("postgresql://"):]
    settings["SQLALCHEMY_DATABASE_URI"] = uri
    # One voucher a request, plus the form around it.
    settings["MAX_CONTENT_LENGTH"] = (settings["VOUCHER_MAX_MB"] + 1) * 1024 * 1024
    settings["RATELIMIT_STORAGE_URI"] = settings["REDIS_URL"] or "memory://"
    settings["RATELIMIT_HEADERS_ENABLED"] = True
    # Said every time: Flask-Limiter keeps the last app's value on its one Limiter otherwise.
    settings["RATELIMIT_ENABLED"] = True
    if overrides:
        settings.update(overrides)
    if "SQLALCHEMY_ENGINE_OPTIONS" not in settings:
        # A server's connections can drop (restart, failover, idle timeout): test each one as the
        # pool hands it out. A SQLite file cannot drop, and the test would be a query a request.
        server = not settings["SQLALCHEMY_DATABASE_URI"].startswith("sqlite")
        settings["SQLALCHEMY_ENGINE_OPTIONS"] = {"pool_pre_ping": server}
    check_settings(settings)
    return settings


def check_settings(settings):
    if settings["PORTAL_ENV"] == "production":
        if settings["SECRET_KEY"] in ("", DEVELOPMENT_SECRET_KEY) or len(settings["SECRET_KEY"]) < 32:
            raise ConfigurationError(
                "PORTAL_ENV=production needs its own SECRET_KEY of at least 32 characters"
            )
    try:
        data_keys = parse_keys(settings["DATA_KEYS"])
    except KeyConfigurationError as error:
        raise ConfigurationError(str(error)) from error
    development_keys = set(parse_keys(DEVELOPMENT_DATA_KEYS).values())
    if settings["PORTAL_ENV"] == "production" and development_keys & set(data_keys.values()):
        raise ConfigurationError("PORTAL_ENV=production needs its own DATA_KEYS (SM4 keys kept outside the database)")
    if settings["PORTAL_ENV"] == "production" and (
            settings["AUDIT_HMAC_KEY"] in ("", DEVELOPMENT_AUDIT_KEY) or len(settings["AUDIT_HMAC_KEY"]) < 32):
        raise ConfigurationError("PORTAL_ENV=production needs its own AUDIT_HMAC_KEY of at least 32 characters")
    if settings["AUDIT_RETENTION_DAYS"] < AUDIT_RETENTION_FLOOR_DAYS:
        raise ConfigurationError(f"AUDIT_RETENTION_DAYS must be at least {AUDIT_RETENTION_FLOOR_DAYS} "
                                 "(网络安全法: audit logs are kept six months)")
    if settings.get("FILES_DIR") and not Path(settings["FILES_DIR"]).is_dir():
        raise ConfigurationError(
            f"FILES_DIR {settings['FILES_DIR']} is not an existing folder: create it, or mount the shared file "
            "system there first (files written elsewhere would be seen by this server only)")
    if settings.get("LOGIN_CAPTCHA") not in ("on", "off"):
        raise ConfigurationError(f"LOGIN_CAPTCHA must be on or off, not {settings.get('LOGIN_CAPTCHA')!r}")
    if settings["PORTAL_ENV"] == "production" and settings["LOGIN_CAPTCHA"] == "off":
        raise ConfigurationError("LOGIN_CAPTCHA=off is for local scripts and automated checks; "
                                 "production keeps the graphic captcha before SMS codes")
    if settings["SMS_BACKEND"] not in ("outbox", "console", "http"):
        raise ConfigurationError(f"unknown SMS_BACKEND {settings['SMS_BACKEND']!r}")
    if settings["SMS_BACKEND"] == "http" and not settings["SMS_HTTP_URL"]:
        raise ConfigurationError("SMS_BACKEND=http needs SMS_HTTP_URL")
    if settings["PORTAL_ENV"] == "production":
        _check_production_services(settings)


def _check_production_services(settings):
    """What a production install must have beyond its keys: real SMS, its public address, and one
    rate-limit store for all its worker processes."""
    if settings["SMS_BACKEND"] in LOCAL_SMS_BACKENDS:
        raise ConfigurationError(
            f"PORTAL_ENV=production cannot use SMS_BACKEND={settings['SMS_BACKEND']}: it sends no message to "
            "any phone, so nobody could log in; set SMS_BACKEND=http with SMS_HTTP_URL and SMS_HTTP_TOKEN")
    base_url = urlsplit(settings["PUBLIC_BASE_URL"])
    if settings["PUBLIC_BASE_URL"] == DEVELOPMENT_BASE_URL:
        raise ConfigurationError(
            f"PORTAL_ENV=production needs PUBLIC_BASE_URL, the portal's https:// address as people reach it "
            f"(it is printed in every confirmation sheet's QR code); it is the development {DEVELOPMENT_BASE_URL}")
    if base_url.scheme != "https" or not base_url.hostname:
        raise ConfigurationError(
            f"PUBLIC_BASE_URL must be an https:// address in production (nginx serves TLS), "
            f"not {settings['PUBLIC_BASE_URL']!r}")
    if base_url.hostname in ("localhost", "127.0.0.1", "::1"):
        raise ConfigurationError(
            f"PUBLIC_BASE_URL {settings['PUBLIC_BASE_URL']!r} is this machine's own address: the QR codes "
            "of printed sheets must lead to the portal from anyone's phone")
    workers = settings["WEB_CONCURRENCY"]
    if workers < 1:
        raise ConfigurationError(f"WEB_CONCURRENCY must be at least 1, not {workers}")
    if workers > 1 and not settings["REDIS_URL"]:
        raise ConfigurationError(
            f"PORTAL_ENV=production with WEB_CONCURRENCY={workers} web workers needs REDIS_URL: without it "
            "each worker keeps its own rate-limit counts, and every limit is multiplied by the workers")
