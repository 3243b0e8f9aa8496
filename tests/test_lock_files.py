"""Installs take exact versions: the lock files pin, with hashes, every dependency pyproject.toml
names, at a version its range allows, and the test lock holds the production lock's pins."""
import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^([A-Za-z0-9_.-]+)==([^\s\\]+)", re.M)


def pins(name):
    text = (ROOT / name).read_text(encoding="utf-8")
    found = {canonical(package): version for package, version in PIN.findall(text)}
    # every pin carries at least one hash
    blocks = re.split(r"\n(?=[A-Za-z0-9_.-]+==)", text)
    assert all("--hash=sha256:" in block for block in blocks if PIN.match(block)), name
    return found


def canonical(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def requirements(extra=None):
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    listed = project["dependencies"] + (project["optional-dependencies"][extra] if extra else [])
    return [Requirement(line) for line in listed]


def test_every_dependency_is_pinned_within_its_range():
    for lock, extra in (("requirements.lock", None), ("requirements-test.lock", "test")):
        pinned = pins(lock)
        for requirement in requirements(extra):
            version = pinned.get(canonical(requirement.name))
            assert version, f"{lock}: {requirement.name} is not pinned (run make lock)"
            assert requirement.specifier.contains(version, prereleases=True), f"{lock}: {requirement} vs {version}"


def test_the_tests_run_the_versions_production_installs():
    production, tests = pins("requirements.lock"), pins("requirements-test.lock")
    assert {name: tests.get(name) for name in production} == production


def test_the_lock_files_name_no_local_index():
    for lock in ("requirements.lock", "requirements-test.lock"):
        text = (ROOT / lock).read_text(encoding="utf-8")
        assert "--index-url" not in text and "--find-links" not in text and "file://" not in text
