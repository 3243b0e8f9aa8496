"""Which areas never import which, read from the source (every import statement, at the top of a
module or inside a function): the reference data knows nothing of either workflow, now that the
reporting periods are the records area's (issue 12, item 9), and the two workflows know nothing
of each other (DESIGN §8)."""
import ast
from pathlib import Path

import pytest

PORTAL = Path(__file__).resolve().parent.parent / "portal"

#: (package that never imports, packages it never imports)
RULES = [
    ("reference", ("portal.records", "portal.reservations")),
    ("records", ("portal.reservations",)),
    ("reservations", ("portal.records",)),
]


def import_statements(path):
    """(line, names) of every import statement of the file, relative imports made absolute;
    `from a import b` names both a and a.b, as b may be a module."""
    package = ".".join(path.relative_to(PORTAL.parent).with_suffix("").parts[:-1]).split(".")
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            yield node.lineno, [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            parts = package[:len(package) - node.level + 1] if node.level else []
            base = ".".join(parts + ([node.module] if node.module else []))
            yield node.lineno, [base] + [f"{base}.{alias.name}" for alias in node.names]


def _breaches(package, forbidden):
    found = []
    for path in sorted((PORTAL / package).rglob("*.py")):
        for line, names in import_statements(path):
            bad = [name for name in names if any(name == root or name.startswith(root + ".") for root in forbidden)]
            if bad:
                found.append(f"{path.relative_to(PORTAL.parent)}:{line} imports {bad[0]}")
    return found


@pytest.mark.parametrize("package, forbidden", RULES, ids=[rule[0] for rule in RULES])
def test_an_area_never_imports_the_areas_it_must_not_know(package, forbidden):
    assert _breaches(package, forbidden) == []


def test_the_reader_sees_every_kind_of_import(tmp_path, monkeypatch):
    """The check itself: plain, from, relative and function-level imports are all seen."""
    fake = tmp_path / "portal" / "reference"
    fake.mkdir(parents=True)
    (fake / "sneaky.py").write_text(
        "import portal.records.models\n"
        "from portal import reservations\n"
        "from ..records import periods\n"
        "def late():\n"
        "    from portal.records.models import ReportingPeriod\n", encoding="utf-8")
    monkeypatch.setattr(f"{__name__}.PORTAL", tmp_path / "portal")
    assert len(_breaches("reference", ("portal.records", "portal.reservations"))) == 4
