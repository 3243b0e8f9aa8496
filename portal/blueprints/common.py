"""Helpers every blueprint uses: access decorators, page-or-fragment rendering, toasts."""
import json
from functools import wraps

from flask import abort, current_app, make_response, redirect, request, url_for
from flask_login import current_user, login_required
from jinja2_fragments.flask import render_block

from portal.extensions import db, htmx
from portal.params import BadValue, parse_id, parse_year


def once_per_request(function):
    """A function of no arguments whose answer is kept for the rest of the request: the menu and the
    page often ask the same question. Kept in the WSGI environ, which lives exactly one request
    (g outlives it when a test holds an app context across requests)."""
    key = f"portal.once.{function.__module__}.{function.__qualname__}"

    @wraps(function)
    def wrapped():
        if key not in request.environ:
            request.environ[key] = function()
        return request.environ[key]

    return wrapped


def requires(rule):
    """Login, then a rule on the account; a failed rule is a 403 (the page exists, not for you)."""

    def decorator(view):
        @wraps(view)
        @login_required
        def wrapped(*args, **kwargs):
            if not rule(current_user):
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator


def load_or_404(model, key, may_reach=None, options=()):
    """Load an object by its key for the current account: a missing one, or one the account
    may not reach (may_reach(account, obj) is false), is a 404, as if it did not exist.
    `options` load its relations with it (a page that shows them all)."""
    found = db.session.get(model, key, options=options)
    if found is None or (may_reach is not None and not may_reach(current_user, found)):
        abort(404)
    return found


def id_arg(name, values=None):
    """An id or keyset cursor from the query (or the given values), None if absent; a malformed
    one is a 400, the answer to a link nobody's page made."""
    try:
        return parse_id((request.args if values is None else values).get(name))
    except BadValue:
        abort(400)


def year_arg():
    """The `year` of the query, None if absent; a malformed or implausible one is a 400."""
    try:
        return parse_year(request.args.get("year"))
    except BadValue:
        abort(400)


def commit_keeping_loaded():
    """Commit, keeping what is loaded: the answer is drawn from the rows this transaction just
    wrote through the ORM, so reloading them (and the account) after the commit would only
    repeat what the request already holds."""
    session = db.session()
    session.expire_on_commit = False
    try:
        session.commit()
    finally:
        session.expire_on_commit = True


def render_page(template, block, **context):
    """The whole page for a normal request, the named block for an HTMX request."""
    if htmx:
        response = make_response(render_block(template, block, **context))
    else:
        from flask import render_template
        response = make_response(render_template(template, **context))
    response.vary.add("HX-Request")
    return response


def fragment(template, block, **context):
    return make_response(render_block(template, block, **context))


def with_toast(response, message, level="success", **events):
    """Attach an HX-Trigger event that the page shows as a toast (JSON keeps the header ASCII)."""
    payload = {"toast": {"message": message, "level": level}, **events}
    response.headers["HX-Trigger"] = json.dumps(payload, ensure_ascii=True)
    return response


def apply_errors(form, errors):
    """Put domain messages beside their fields; others go to the form's top."""
    for name, message in errors.items():
        field = getattr(form, name, None)
        if field is not None:
            field.errors = [message]
        else:
            form.form_errors.append(message)


def keyset_page(query, key_column, after=None, descending=False):
    """One page of rows after a key (never OFFSET); returns (rows, key of the next page or None)."""
    size = current_app.config["PAGE_SIZE"]
    if after is not None:
        query = query.where(key_column < after if descending else key_column > after)
    query = query.order_by(None).order_by(key_column.desc() if descending else key_column)
    rows = db.session.scalars(query.limit(size + 1)).all()
    next_key = getattr(rows[size - 1], key_column.key) if len(rows) > size else None
    return rows[:size], next_key


def export_or_queue(name, export, args):
    """A small export downloads at once; a large one is written by the worker while the person
    watches its progress on the export's page (jobs/exports.py)."""
    from portal.excel import xlsx_workbook_download
    from portal.jobs.exports import inline_rows, queue_export

    if export.total <= inline_rows():
        return xlsx_workbook_download(export.title, export.sheets, max_rows=current_app.config["EXPORT_MAX_ROWS"])
    job = queue_export(name, current_user, args, export.title)
    db.session.commit()
    return redirect(url_for("exports.status", job_id=job.id))
