"""The request as the portal reads it, before any view sees it.

Query and form values lose the control characters no field holds (a NUL would reach
PostgreSQL, which refuses it in text); ids in paths are ASCII digits within INTEGER, so that a
20-digit id is a 404 like any other missing object instead of an overflow in the database."""
from flask import Request
from werkzeug.datastructures import ImmutableMultiDict, MultiDict
from werkzeug.routing import IntegerConverter

from portal.params import MAX_ID, strip_controls


def _clean(value):
    return strip_controls(value) if isinstance(value, str) else value


class CleanMultiDict(ImmutableMultiDict):
    def __init__(self, mapping=None):
        if isinstance(mapping, MultiDict):
            pairs = mapping.items(multi=True)
        elif isinstance(mapping, dict):
            pairs = [(key, item) for key, value in mapping.items()
                     for item in (value if isinstance(value, (list, tuple)) else [value])]
        else:
            pairs = mapping or ()
        super().__init__([(_clean(key), _clean(value)) for key, value in pairs])


class PortalRequest(Request):
    parameter_storage_class = CleanMultiDict


class IdConverter(IntegerConverter):
    """`<int:…>` in every route: ASCII digits only (\\d would take ３ or ٣), at most INTEGER."""

    regex = r"[0-9]{1,10}"

    def __init__(self, map, fixed_digits=0, min=None, max=MAX_ID, signed=False):
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def install(app):
    app.request_class = PortalRequest
    app.url_map.converters["int"] = IdConverter
