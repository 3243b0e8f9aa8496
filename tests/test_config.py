"""Settings from the environment: production safety checks, URL rewriting, SMS backend choice."""
import pytest

from portal.config import DEVELOPMENT_SECRET_KEY, ConfigurationError, load_settings

ENV_VARS = ("PORTAL_ENV", "SECRET_KEY", "DATABASE_URL", "SMS_BACKEND", "SMS_HTTP_URL", "SMS_HTTP_TOKEN",
            "REDIS_URL", "PORTAL_INSTANCE", "DATA_KEYS", "AUDIT_HMAC_KEY")
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
