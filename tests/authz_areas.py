"""The authorization matrix rows of the newer areas, one module each (tests/authz_area_*.py), so
that an area's routes, the objects they are tried on and their rules live together.

Each module defines ROWS (endpoint -> (method, url builder over the tree, rule), as MATRIX),
and may define MORE_ROWS (as test_authz_matrix.MORE_ROWS) and prepare(app, tree), which adds
the objects its rows need to the tree inside the matrix fixture's app context.
"""
import importlib
import pkgutil

import tests


def _modules():
    names = sorted(info.name for info in pkgutil.iter_modules(tests.__path__) if info.name.startswith("authz_area_"))
    return [importlib.import_module(f"tests.{name}") for name in names]


def rows():
    merged = {}
    for module in _modules():
        overlap = set(merged) & set(module.ROWS)
        assert not overlap, f"{module.__name__} repeats rows: {overlap}"
        merged.update(module.ROWS)
    return merged


def more_rows():
    return [row for module in _modules() for row in getattr(module, "MORE_ROWS", [])]


def prepare(app, tree):
    for module in _modules():
        if hasattr(module, "prepare"):
            module.prepare(app, tree)
