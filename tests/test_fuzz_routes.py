"""Every route, as every role, with hostile values in every parameter it reads: never a 500,
never slow.

Nothing here lists parameters by hand. For each role the fuzzer opens every page the role may
see and reads its forms (inputs, selects, textareas, with the values a browser would send);
it sends each route its plain request once and records every query and form name the view
read (a recording MultiDict as the request's storage class); then it sends, one name at a
time, each hostile value in place of that name's value — in the path, the query and the form.
A new route, field or filter is fuzzed the day it is added.

Every role sends every route its plain request, as a page and as an HTMX fragment, and hostile
values in its path; the first three roles of different unit kinds that reach a route also send
hostile values in every name it reads.
"""
import re
import time
from html.parser import HTMLParser
from urllib.parse import quote, urlsplit

import pytest
from werkzeug.datastructures import MultiDict

from portal.extensions import db
from portal.http import CleanMultiDict, PortalRequest
from portal.reference.loader import load_reference_data
from tests.conftest import _wipe, csrf_token
from tests.test_authz_matrix import MATRIX, matrix_tree  # noqa: F401  (fixture)

#: a response slower than this is a finding (an unbounded parser, a scan of a whole table)
SLOW_SECONDS = 3.0
HOSTILE = [
    "99999999999999999999", "9223372036854775808", "-1", "0", "²", "１２", "NaN", "sNaN", "Infinity", "1e309",
    "1E+2", "x" * 10_000, "a\x00b", "\r\nSet-Cookie: x=1", "0001-01-01", "2024-02-30", "9999-12-31", "%_\\",
    "<script>alert(1)</script>", "", "1.005", "１３８００００１０１２",
]
PATH_HOSTILE = ["99999999999999999999", "9223372036854775807", "0", "-1", "１２", "²", "x" * 2000, "a%00b"]
#: the merchant, the school and its superior first: later roles' fuzzing disables the merchant
#: and closes the school
ROLES = [
    "anonymous", "gz_merchant", "budget_unit", "superior_budget", "system", "province", "province_reviewer", "listed_market",
    "listed_merchant", "gz_office", "gz_reviewer", "gz_market", "gz_supermarket", "gz_store", "gz_ecommerce",
    "gz_enterprise", "sz_office", "sz_reviewer", "sz_market", "sz_merchant", "sz_supermarket", "sz_store",
    "sz_ecommerce", "sz_enterprise", "province_finance", "gz_finance", "county_finance", "gz_budget",
    "security_admin", "audit_admin",
]
ROLES_PER_ROUTE = 3
#: routes whose names no role fuzzes: logout answers only with the login page, and the annotated
#: file of a failed import exists only after one (read by the session or by a token the failed
#: upload made; any other value is a 404)
NOT_REACHED = ["auth.logout", "budget_units.error_file", "oversight.error_file"]
#: changes that take away what later routes and roles need (the school, the merchant, the session)
DESTRUCTIVE = ("budget_units.close", "budget_units.merge", "accounts.disable_account", "security.disable_account",
               "auth.logout")
#: vouchers change only on a draft: these routes are tried on one instead of the matrix's filed record
DRAFT_URLS = {
    "records.upload_voucher": lambda t: f"/records/{t.draft_id}/vouchers",
    "records.delete_voucher": lambda t: f"/records/{t.draft_id}/vouchers/{t.draft_voucher_id}/delete",
}


class RecordingMultiDict(CleanMultiDict):
    """Request storage that notes every name a view reads."""

    read = set()

    def get(self, key, default=None, type=None):
        RecordingMultiDict.read.add(key)
        return super().get(key, default, type)

    def getlist(self, key, type=None):
        RecordingMultiDict.read.add(key)
        return super().getlist(key, type)

    def __getitem__(self, key):
        RecordingMultiDict.read.add(key)
        return super().__getitem__(key)

    def __contains__(self, key):
        RecordingMultiDict.read.add(key)
        return super().__contains__(key)


class RecordingRequest(PortalRequest):
    parameter_storage_class = RecordingMultiDict


class FormScraper(HTMLParser):
    """The forms of a page as a browser would send them: {action path: MultiDict}."""

    def __init__(self, page_path):
        super().__init__()
        self.page_path, self.forms, self.current, self.select, self.textarea = page_path, {}, None, None, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            action = attrs.get("hx-post") or attrs.get("action") or self.page_path
            self.current = MultiDict()
            self.forms[urlsplit(action).path] = self.current
        elif self.current is None:
            return
        elif tag == "input" and attrs.get("name"):
            kind = attrs.get("type", "text")
            if kind in ("checkbox", "radio") and "checked" not in attrs:
                if kind == "radio" and attrs["name"] not in self.current:
                    self.current.add(attrs["name"], attrs.get("value", "on"))
                return
            if kind == "radio" and "checked" in attrs:
                self.current.setlist(attrs["name"], [])
            if kind not in ("file", "submit", "button"):
                self.current.add(attrs["name"], attrs.get("value", ""))
        elif tag == "select" and attrs.get("name"):
            self.select = [attrs["name"], None]
        elif tag == "option" and self.select is not None:
            if self.select[1] is None or "selected" in attrs:
                self.select[1] = attrs.get("value", "")
        elif tag == "textarea" and attrs.get("name"):
            self.textarea = attrs["name"]
            self.current.add(self.textarea, "")
        elif tag == "button" and attrs.get("hx-post"):
            self.forms.setdefault(urlsplit(attrs["hx-post"]).path, self.current)

    def handle_data(self, data):
        if self.textarea and self.current is not None:
            self.current.setlist(self.textarea, [data])

    def handle_endtag(self, tag):
        if tag == "select" and self.select is not None and self.current is not None:
            self.current.setlist(self.select[0], [self.select[1] or ""])
            self.select = None
        elif tag == "textarea":
            self.textarea = None
        elif tag == "form":
            self.current = None


@pytest.fixture
def app(app_factory):
    # Exceptions become 500 answers, collected as findings, instead of stopping the run. An export
    # over EXPORT_INLINE_ROWS is queued: a small bound keeps the audit log's export (a trail the
    # fuzzing itself grows by thousands of rows) to what a request may do, as in production.
    app = app_factory(RATELIMIT_ENABLED=False, PROPAGATE_EXCEPTIONS=False, EXPORT_INLINE_ROWS=500,
                      SMS_LIMIT_PER_MINUTE=10_000, SMS_LIMIT_PER_HOUR=10_000, SMS_LIMIT_PER_DAY=10_000)
    app.request_class = RecordingRequest
    with app.app_context():
        _wipe(app)
        load_reference_data()
        db.session.commit()
    return app


def _routes(app):
    """(endpoint, method, rule) of every route but static files: reading before changing, and the
    changes that take away what others need last."""
    routes = [(rule.endpoint, method, rule) for rule in app.url_map.iter_rules() if rule.endpoint != "static"
              for method in sorted(rule.methods - {"HEAD", "OPTIONS"})]
    return sorted(routes, key=lambda route: (route[0] in DESTRUCTIVE, DESTRUCTIVE.index(route[0])
                                             if route[0] in DESTRUCTIVE else 0, route[1] == "POST"))


def _base_url(app, tree, endpoint, rule):
    """The matrix's URL for the route: the real object of the role tree it is tried on."""
    if endpoint in DRAFT_URLS:
        url = DRAFT_URLS[endpoint](tree)
    elif endpoint in MATRIX:
        url = MATRIX[endpoint][1](tree)
    else:  # not in the matrix yet (its own test says so): tried where it takes no object
        url = rule.rule if not rule.arguments else None
    if url is None:
        return None, None, None
    path, _, query = url.partition("?")
    view_args = app.url_map.bind("localhost").match(path, method=MATRIX.get(endpoint, ("GET",))[0])[1]
    return path, MultiDict([tuple(pair.split("=", 1)) for pair in query.split("&")] if query else []), view_args


def _path_with(rule, view_args, name, value):
    values = {**{key: str(val) for key, val in view_args.items()}, name: value}
    return re.sub(r"<(?:[^:>]+:)?([^>]+)>", lambda m: quote(values[m.group(1)], safe=""), rule.rule)


class Fuzzer:
    def __init__(self, client, token, relogin):
        self.client, self.token, self.relogin = client, token, relogin
        self.findings, self.requests, self.names = [], 0, set()

    def send(self, method, path, query, form, label, htmx=False):
        RecordingMultiDict.read = set()
        headers = {"HX-Request": "true"} if htmx else {}
        started = time.perf_counter()
        if method == "GET":
            response = self.client.get(path, query_string=query, headers=headers)
        else:
            response = self.client.post(path, query_string=query, data=form,
                                        headers={"X-CSRFToken": self.token, **headers})
        elapsed = time.perf_counter() - started
        self.requests += 1
        if response.status_code >= 500 and response.status_code != 503:
            self.findings.append(f"{response.status_code} {method} {path} [{label}]")
        elif elapsed > SLOW_SECONDS:
            self.findings.append(f"slow {elapsed:.1f}s {method} {path} [{label}]")
        if response.status_code == 302 and "/login" in response.headers.get("Location", "") and self.relogin \
                and "/login" in self.client.get("/").headers.get("Location", ""):
            self.token = self.relogin()  # the request ended the session (logout, login as another)
        return response, set(RecordingMultiDict.read)


def _scrape_forms(client, tree, app):
    forms = {}
    for endpoint, (method, url_for_tree, _) in MATRIX.items():
        if method != "GET" or endpoint == "auth.logout":
            continue
        url = url_for_tree(tree)
        response = client.get(url)
        if response.status_code == 200 and "html" in response.content_type:
            scraper = FormScraper(urlsplit(url).path)
            scraper.feed(response.get_data(as_text=True))
            for action, data in scraper.forms.items():
                forms.setdefault(action, data)
    return forms


def _may_reach(response):
    return response.status_code not in (302, 403, 404, 405) or (
        response.status_code == 302 and "/login" not in response.headers.get("Location", ""))


@pytest.fixture
def fuzz_tree(app, matrix_tree):
    """The matrix's tree plus a draft of the Guangzhou merchant's, whose vouchers may change."""
    from portal.accounts.models import Account
    from tests.factories import file_record

    with app.app_context():
        draft = file_record(db.session.get(Account, matrix_tree.gz_merchant.id), app.instance_path, submit=False)
        db.session.commit()
        matrix_tree.draft_id, matrix_tree.draft_voucher_id = draft.id, draft.vouchers[0].id
    return matrix_tree


def test_no_hostile_value_breaks_any_route(app, client, fuzz_tree, login):
    tree = fuzz_tree
    client.run_worker = False  # 20,000 requests: the jobs they might queue are not what is tried here
    known_ids = [str(tree.record_id), str(tree.sz_market.unit_id)]
    deep = {}  # endpoint -> unit kinds that fuzzed its names
    totals = {"requests": 0, "names": set(), "findings": []}
    for role in ROLES:
        account = getattr(tree, role, None)
        kind = app_kind(app, account)

        def relogin():
            if account is not None:
                login(client, account.phone)
            return csrf_token(client, "/" if account is not None else "/login")

        fuzzer = Fuzzer(client, relogin(), relogin)
        forms = _scrape_forms(client, tree, app)
        for endpoint, method, rule in _routes(app):
            path, query, view_args = _base_url(app, tree, endpoint, rule)
            if path is None:
                continue
            form = MultiDict(forms.get(path, MultiDict())) if method == "POST" else MultiDict()
            response, read = fuzzer.send(method, path, query, form, "plain")
            fuzzer.send(method, path, query, form, "plain, as HTMX", htmx=True)
            # Refused before any object is loaded (login, 403): the path matters only to the router.
            values = PATH_HOSTILE + known_ids if response.status_code not in (302, 403) else PATH_HOSTILE[:2]
            for name in view_args:
                fuzzer.names.add(f"{endpoint}:{name}")
                for value in values:
                    fuzzer.send(method, _path_with(rule, view_args, name, value), query, form,
                                f"path {name}={value!r:.40}")
            if not _may_reach(response) or kind in deep.setdefault(endpoint, set()) \
                    or len(deep[endpoint]) >= ROLES_PER_ROUTE:
                continue
            deep[endpoint].add(kind)
            names = (read | set(form.keys()) | set(query.keys()))
            for name in sorted(names):
                fuzzer.names.add(f"{endpoint}:{name}")
                for value in HOSTILE + known_ids:
                    in_form = method == "POST" and (name in form or name not in query)
                    changed = MultiDict(form if in_form else query)
                    changed.setlist(name, [value])
                    fuzzer.send(method, path, query if in_form else changed, changed if in_form else form,
                                f"{name}={value!r:.40}")
        client.post("/logout", headers={"X-CSRFToken": fuzzer.token})
        totals["requests"] += fuzzer.requests
        totals["names"] |= fuzzer.names
        totals["findings"] += [f"{role}: {finding}" for finding in fuzzer.findings]
    routes = {endpoint for endpoint, _, _ in _routes(app)}
    print(f"\nfuzzed {len(routes)} routes, {len(totals['names'])} route parameters, "
          f"{totals['requests']} requests as {len(ROLES)} roles")
    print("not reached:", sorted(endpoint for endpoint in routes if not deep.get(endpoint)))
    print("\n".join(totals["findings"]))
    assert sorted(endpoint for endpoint in routes if not deep.get(endpoint)) == NOT_REACHED
    assert not totals["findings"], "\n".join(totals["findings"])


def app_kind(app, account):
    """The unit kind of a role's account, which is made active again if an earlier role's
    fuzzing disabled it or closed its unit (ids outside a role's scope are tried everywhere)."""
    if account is None:
        return "anonymous"
    from portal.accounts.models import Account

    with app.app_context():
        found = db.session.get(Account, account.id)
        found.active = found.unit.active = True
        db.session.commit()
        return found.unit.kind
