"""Settings from the environment: production safety checks, URL rewriting, SMS backend choice."""
import pytest

from portal.config import DEVELOPMENT_SECRET_KEY, ConfigurationError, load_settings

ENV_VARS = ("PORTAL_ENV", "SECRET_KEY", "DATABASE_URL", "SMS_BACKEND", "SMS_HTTP_URL", "SMS_HTTP_TOKEN",
            "REDIS_URL", "PORTAL_INSTANCE", "DATA_KEYS", "AUDIT_HMAC_KEY", "PUBLIC_BASE_URL", "WEB_CONCURRENCY")
STRONG_KEY = "k" * 32


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PORTAL_INSTANCE", str(tmp_path / "instance"))
    return monkeypatch


def test_development_defaults_load(clean_env):
    settings = load_settings()
    assert settings["PORTAL_ENV"] == "development"
    assert settings["SECRET_KEY"] == DEVELOPMENT_SECRET_KEY
    assert settings["SMS_BACKEND"] == "outbox"
    assert settings["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///")
    assert settings["SESSION_COOKIE_SECURE"] is False


def test_production_refuses_the_development_secret_key(clean_env):
    clean_env.setenv("PORTAL_ENV", "production")
    with pytest.raises(ConfigurationError, match="SECRET_KEY"):
        load_settings()
    clean_env.setenv("SECRET_KEY", DEVELOPMENT_SECRET_KEY)
    with pytest.raises(ConfigurationError, match="SECRET_KEY"):
        load_settings()


@pytest.mark.parametrize("key", ["", "short", "x" * 31])
def test_production_refuses_short_keys(clean_env, key):
    clean_env.setenv("PORTAL_ENV", "production")
    clean_env.setenv("SECRET_KEY", key)
    with pytest.raises(ConfigurationError):
        load_settings()


def test_production_accepts_its_own_long_key_and_secures_the_cookie(clean_env):
    clean_env.setenv("PORTAL_ENV", "production")
    clean_env.setenv("SECRET_KEY", STRONG_KEY)
    clean_env.setenv("DATA_KEYS", "prod1:" + "5a" * 16)  # its own SM4 keys (tests/test_crypto.py)
    clean_env.setenv("AUDIT_HMAC_KEY", "a" * 32)  # its own key for the audit chain
    clean_env.setenv("SMS_BACKEND", "http")  # a real gateway, its public address, a shared rate-limit store
    clean_env.setenv("SMS_HTTP_URL", "https://sms.example/send")
    clean_env.setenv("PUBLIC_BASE_URL", "https://portal.example.gov.cn")
    clean_env.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    settings = load_settings()
    assert settings["SECRET_KEY"] == STRONG_KEY
    assert settings["SESSION_COOKIE_SECURE"] is True


def test_production_checks_overrides_too(clean_env):
    clean_env.setenv("PORTAL_ENV", "production")
    clean_env.setenv("SECRET_KEY", STRONG_KEY)
    with pytest.raises(ConfigurationError):
        load_settings({"SECRET_KEY": DEVELOPMENT_SECRET_KEY})


@pytest.mark.parametrize("given, expected", [
    ("postgres://portal:pw@db.example:5432/portal", "postgresql+psycopg://portal:pw@db.example:5432/portal"),
    ("postgresql://portal@127.0.0.1/portal", "postgresql+psycopg://portal@127.0.0.1/portal"),
    ("postgresql+psycopg://portal@127.0.0.1/portal", "postgresql+psycopg://portal@127.0.0.1/portal"),
    ("sqlite:////srv/portal/portal.sqlite3", "sqlite:////srv/portal/portal.sqlite3"),
])
def test_database_url_rewritten_for_psycopg(clean_env, given, expected):
    clean_env.setenv("DATABASE_URL", given)
    assert load_settings()["SQLALCHEMY_DATABASE_URI"] == expected


def test_unknown_sms_backend_refused(clean_env):
    clean_env.setenv("SMS_BACKEND", "carrier-pigeon")
    with pytest.raises(ConfigurationError, match="carrier-pigeon"):
        load_settings()


def test_http_sms_backend_needs_a_url(clean_env):
    clean_env.setenv("SMS_BACKEND", "http")
    with pytest.raises(ConfigurationError, match="SMS_HTTP_URL"):
        load_settings()
    clean_env.setenv("SMS_HTTP_URL", "https://sms.example/send")
    settings = load_settings()
    assert settings["SMS_BACKEND"] == "http"
    assert settings["SMS_HTTP_URL"] == "https://sms.example/send"


@pytest.mark.parametrize("backend", ["outbox", "console"])
def test_known_local_backends_accepted(clean_env, backend):
    clean_env.setenv("SMS_BACKEND", backend)
    assert load_settings()["SMS_BACKEND"] == backend


def test_app_refuses_to_start_with_unsafe_production_settings(clean_env):
    from portal import create_app

    clean_env.setenv("PORTAL_ENV", "production")
    with pytest.raises(ConfigurationError):
        create_app()


#: a production configuration that passes every check; each test below spoils one setting
PRODUCTION = {
    "PORTAL_ENV": "production", "SECRET_KEY": STRONG_KEY, "DATA_KEYS": "prod1:" + "5a" * 16,
    "AUDIT_HMAC_KEY": "a" * 32, "SMS_BACKEND": "http", "SMS_HTTP_URL": "https://sms.example/send",
    "PUBLIC_BASE_URL": "https://portal.example.gov.cn", "REDIS_URL": "redis://127.0.0.1:6379/0",
    "WEB_CONCURRENCY": "4",
}


@pytest.fixture
def production_env(clean_env):
    for name, value in PRODUCTION.items():
        clean_env.setenv(name, value)
    return clean_env


def test_the_complete_production_configuration_loads(production_env):
    settings = load_settings()
    assert settings["WEB_CONCURRENCY"] == 4
    assert settings["RATELIMIT_STORAGE_URI"] == "redis://127.0.0.1:6379/0"


@pytest.mark.parametrize("backend", ["outbox", "console"])
def test_production_refuses_the_local_sms_backends(production_env, backend):
    production_env.setenv("SMS_BACKEND", backend)
    with pytest.raises(ConfigurationError, match=f"SMS_BACKEND={backend}.*SMS_BACKEND=http"):
        load_settings()
    production_env.delenv("SMS_BACKEND")  # the default is the outbox
    with pytest.raises(ConfigurationError, match="SMS_BACKEND=outbox"):
        load_settings()


def test_production_refuses_the_default_public_base_url(production_env):
    production_env.delenv("PUBLIC_BASE_URL")
    with pytest.raises(ConfigurationError, match="PUBLIC_BASE_URL.*QR code"):
        load_settings()
    production_env.setenv("PUBLIC_BASE_URL", "http://127.0.0.1:5000/")
    with pytest.raises(ConfigurationError, match="PUBLIC_BASE_URL"):
        load_settings()


@pytest.mark.parametrize("url", ["http://portal.example.gov.cn", "portal.example.gov.cn", "https://",
                                 "https://localhost:8443", "https://127.0.0.1"])
def test_production_refuses_a_public_base_url_people_cannot_reach_over_tls(production_env, url):
    production_env.setenv("PUBLIC_BASE_URL", url)
    with pytest.raises(ConfigurationError, match="PUBLIC_BASE_URL"):
        load_settings()


def test_a_development_install_keeps_its_defaults(clean_env):
    """The refusals are production's: a local install runs with the outbox, 127.0.0.1:5000 and
    per-process rate limits."""
    clean_env.setenv("WEB_CONCURRENCY", "8")
    settings = load_settings()
    assert (settings["SMS_BACKEND"], settings["PUBLIC_BASE_URL"], settings["REDIS_URL"]) == (
        "outbox", "http://127.0.0.1:5000", "")


@pytest.mark.parametrize("workers", [None, "2", "4"])
def test_production_refuses_several_workers_without_redis(production_env, workers):
    production_env.delenv("REDIS_URL")
    if workers is None:
        production_env.delenv("WEB_CONCURRENCY")  # gunicorn.conf.py's default: 4 workers
    else:
        production_env.setenv("WEB_CONCURRENCY", workers)
    with pytest.raises(ConfigurationError, match="REDIS_URL"):
        load_settings()


def test_production_with_one_worker_may_count_in_memory(production_env):
    production_env.delenv("REDIS_URL")
    production_env.setenv("WEB_CONCURRENCY", "1")
    assert load_settings()["RATELIMIT_STORAGE_URI"] == "memory://"
    production_env.setenv("WEB_CONCURRENCY", "0")
    with pytest.raises(ConfigurationError, match="WEB_CONCURRENCY"):
        load_settings()


def test_production_checks_the_service_settings_given_as_overrides(production_env):
    with pytest.raises(ConfigurationError, match="SMS_BACKEND"):
        load_settings({"SMS_BACKEND": "outbox"})
    with pytest.raises(ConfigurationError, match="REDIS_URL"):
        load_settings({"REDIS_URL": "", "WEB_CONCURRENCY": 2})
