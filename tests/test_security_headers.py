"""Security headers on every kind of response, and templates that a strict policy lets run."""
import json
import re
from pathlib import Path

import pytest
from flask import Response

from portal.config import PROJECT_ROOT

TEMPLATES = PROJECT_ROOT / "portal" / "templates"
#: rendered by WeasyPrint into a PDF, never by a browser: its styles stay inline
#: drawn by WeasyPrint into PDF files, never served as pages: their stylesheet is inline
PDF_TEMPLATES = {"reservations/sheet_pdf.html", "records/record_pdf.html", "oversight/notice_pdf.html"}
LONG_SECRET = "s" * 48


def policy(response):
    """The Content-Security-Policy as {directive: [sources]}."""
    header = response.headers.get("Content-Security-Policy")
    assert header, f"no Content-Security-Policy on {response.status}"
    directives = {}
    for part in header.split(";"):
        name, *sources = part.split()
        directives[name] = sources
    return directives


def assert_protected(response):
    csp = policy(response)
    assert csp["script-src"] == ["'self'"]
    assert not any("unsafe" in source for source in csp["script-src"] + csp["style-src"] + csp["default-src"])
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["object-src"] == ["'none'"]
    assert csp["base-uri"] == ["'self'"] and csp["form-action"] == ["'self'"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["Cross-Origin-Opener-Policy"] == "same-origin"
    permissions = response.headers["Permissions-Policy"]
    for feature in ("camera=()", "microphone=()", "geolocation=()"):
        assert feature in permissions


def test_a_full_page_for_anyone_and_for_a_logged_in_user(client, tree, login):
    login_page = client.get("/login")
    assert login_page.status_code == 200
    assert_protected(login_page)

    login(client, tree.gz_office.phone)
    home = client.get("/")
    assert home.status_code == 200 and "<html" in home.get_data(as_text=True)
    assert_protected(home)
    assert "Strict-Transport-Security" not in home.headers  # plain HTTP on a development install


def test_an_htmx_fragment(client, tree, login):
    login(client, tree.gz_office.phone)
    fragment = client.get("/reviews/", headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert "<html" not in fragment.get_data(as_text=True)
    assert_protected(fragment)


def test_an_excel_download_and_a_static_file(client, tree, login):
    login(client, tree.gz_office.phone)
    export = client.get("/reviews/export")
    assert export.status_code == 200
    assert export.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert_protected(export)

    stylesheet = client.get("/static/portal.css")
    assert stylesheet.status_code == 200 and stylesheet.mimetype == "text/css"
    assert_protected(stylesheet)
    stylesheet.close()


def test_an_error_page_and_a_body_over_the_limit(app, client):
    missing = client.get("/no/such/page")
    assert missing.status_code == 404
    assert_protected(missing)

    too_big = client.post("/login", data=b"x" * (app.config["MAX_CONTENT_LENGTH"] + 1),
                          content_type="application/x-www-form-urlencoded")
    assert too_big.status_code == 413
    assert_protected(too_big)


def test_a_policy_a_view_sets_itself_is_kept(app, client):
    sandboxed = "sandbox; default-src 'none'"

    @app.get("/test-sandboxed-file")
    def sandboxed_file():
        return Response(b"%PDF-1.4", mimetype="application/pdf", headers={"Content-Security-Policy": sandboxed})

    response = client.get("/test-sandboxed-file")
    assert response.headers["Content-Security-Policy"] == sandboxed
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_hsts_in_production_only(app_factory):
    # Production's own checks: a long SECRET_KEY, the login captcha on.
    production = app_factory(PORTAL_ENV="production", SECRET_KEY=LONG_SECRET, LOGIN_CAPTCHA="on",
                             DATA_KEYS="prod1:" + "5a" * 16, AUDIT_HMAC_KEY="a" * 32,
                             SMS_BACKEND="http", SMS_HTTP_URL="https://sms.example/send",
                             PUBLIC_BASE_URL="https://portal.example.gov.cn", WEB_CONCURRENCY=1).test_client()
    response = production.get("/login")
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert_protected(response)
    assert "Strict-Transport-Security" in production.get("/no/such/page").headers


def test_production_cookies_are_secure_httponly_and_samesite(app_factory, monkeypatch):
    """The session cookie as the browser receives it (COMPLIANCE 5): not a setting, the header,
    with production set the way an operator sets it (the environment)."""
    for name, value in {"PORTAL_ENV": "production", "SECRET_KEY": LONG_SECRET, "LOGIN_CAPTCHA": "on",
                        "DATA_KEYS": "prod1:" + "5a" * 16, "AUDIT_HMAC_KEY": "a" * 32, "SMS_BACKEND": "http",
                        "SMS_HTTP_URL": "https://sms.example/send", "WEB_CONCURRENCY": "1",
                        "PUBLIC_BASE_URL": "https://portal.example.gov.cn"}.items():
        monkeypatch.setenv(name, value)
    production = app_factory(LOGIN_CAPTCHA="on", SMS_BACKEND="http").test_client()
    cookies = production.get("/login").headers.getlist("Set-Cookie")
    assert cookies, "the login page starts a session (its CSRF token)"
    for cookie in cookies:
        attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
        assert {"secure", "httponly", "samesite"} <= attributes, cookie
        assert "samesite=lax" in cookie.lower().replace(" ", "")


def test_htmx_is_told_not_to_evaluate_code_nor_inject_styles(client):
    page = client.get("/login").get_data(as_text=True)
    meta = re.search(r"<meta name=\"htmx-config\" content='([^']+)'>", page)
    assert meta, "base.html has no htmx-config meta"
    config = json.loads(meta.group(1))
    assert config["allowEval"] is False
    assert config["includeIndicatorStyles"] is False
    assert config["allowScriptTags"] is False
    # Settling copies the listed attributes with setAttribute: a style attribute is refused by the policy.
    assert "style" not in config["attributesToSettle"]


INLINE_CODE = {
    "an inline <script>": re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I),
    "an event handler attribute": re.compile(r"<[^>]*\son[a-z]+\s*=", re.I),
    "hx-on": re.compile(r"\bhx-on", re.I),
    "a javascript: URL": re.compile(r"javascript:", re.I),
    "hx-vars or js: values": re.compile(r"hx-vars|hx-vals\s*=\s*['\"]\s*js:", re.I),
}


@pytest.mark.parametrize("template", sorted(str(p.relative_to(TEMPLATES)) for p in TEMPLATES.rglob("*.html")))
def test_no_template_carries_code_or_styles_the_policy_refuses(template):
    source = (TEMPLATES / template).read_text(encoding="utf-8")
    for what, pattern in INLINE_CODE.items():
        found = pattern.search(source)
        assert not found, f"{template} holds {what}: {found.group(0)!r} (behaviour belongs in static/portal.js)"
    if template not in PDF_TEMPLATES:
        found = re.search(r"\sstyle\s*=|<style", source, re.I)
        assert not found, f"{template} holds an inline style (style-src 'self'): use a class in static/portal.css"


def test_the_template_scan_sees_every_template():
    assert len(list(TEMPLATES.rglob("*.html"))) > 30
    assert all(Path(TEMPLATES / name).exists() for name in PDF_TEMPLATES)
