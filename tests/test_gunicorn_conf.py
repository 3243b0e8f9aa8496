"""The production gunicorn settings: a worker is ready to print sheets before its first request."""
import runpy
from pathlib import Path

from portal import pdf


def test_workers_warm_up_the_sheets_as_they_start(monkeypatch):
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    settings = runpy.run_path(str(Path(__file__).resolve().parent.parent / "gunicorn.conf.py"))
    assert settings["workers"] == 3 and settings["bind"] == "127.0.0.1:8000"
    monkeypatch.setattr(pdf, "_weasy", None)
    settings["post_worker_init"](worker=None)
    html_class, font_config = pdf._weasy
    assert html_class.__module__.startswith("weasyprint")
