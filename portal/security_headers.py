"""Security headers on every response: pages, HTMX fragments, downloads, static files, errors.

The policy allows scripts and styles from the portal itself only: templates carry no inline script,
event handler or style attribute (behaviour is in static/portal.js, looks in static/portal.css), and
htmx is configured in base.html not to evaluate code nor inject its indicator styles. A view that
sets a header itself keeps it (voucher files answer with their own sandboxing policy).
"""

CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    # Bootstrap draws its form controls' icons from data: SVGs in its stylesheet.
    "img-src 'self' data:",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
))

HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate CSP 2
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}

#: production is served over TLS only (nginx in front); a development install is plain HTTP
HSTS = "max-age=31536000; includeSubDomains"


def init_security_headers(app):
    headers = dict(HEADERS)
    if app.config["PORTAL_ENV"] == "production":
        headers["Strict-Transport-Security"] = HSTS

    @app.after_request
    def add_security_headers(response):
        for name, value in headers.items():
            response.headers.setdefault(name, value)
        return response
