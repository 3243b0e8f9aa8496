"""PDF from HTML with WeasyPrint, and the Chinese font every printed page embeds: the machinery
the reserved-share confirmation sheets (portal/reservations/sheets.py) and the printed purchase
record (portal/records/record_pdf.py) share, so that neither workflow imports the other.

WeasyPrint takes about a second to import (it loads Pango through cffi), so it is imported on the
first PDF of a process, or ahead of time by warm_up(), not with the app; one FontConfiguration
serves the whole process, and one PDF is drawn at a time per process.
"""
import atexit
import gc
import threading
from contextlib import contextmanager
from pathlib import Path

#: Noto Sans CJK SC cut down to GB 2312 (scripts/subset_sheet_font.py writes it beside the sheets):
#: WeasyPrint subsets the font of every PDF, and from this small file that is a few ms instead of
#: ~50 ms. A template names it first and the full system font after it, for rarer characters.
FONT = Path(__file__).parent / "reservations" / "fonts" / "NotoSansCJKsc-Sheet.otf"

_weasy = None
_weasy_lock = threading.Lock()
#: stylesheets parsed once per process, by their text
_stylesheets = {}
#: one PDF at a time per process: the FontConfiguration is shared, and so is the collector
_render_lock = threading.Lock()


def font_url():
    return FONT.as_uri()


def warm_up():
    """Import WeasyPrint and make the process's FontConfiguration. Returns (HTML, FontConfiguration)."""
    global _weasy
    if _weasy is None:
        with _weasy_lock:
            if _weasy is None:
                from weasyprint import HTML
                from weasyprint.text.fonts import FontConfiguration
                _weasy = (HTML, FontConfiguration())
                atexit.register(_release_fonts)
    return _weasy


def _release_fonts():
    """Free the font configuration while Pango and fontconfig are still loaded: left to the
    interpreter's last garbage collection, its g_object_unref runs into an unloaded library and
    the process ends with a segmentation fault (exit 139) after all its work is done."""
    global _weasy
    _weasy = None
    gc.collect()


@contextmanager
def _one_collection_after():
    """Hold the garbage collector during a render and collect the young generations once after.
    A render allocates a few hundred thousand short-lived, cyclic objects; left alone, the
    collector runs dozens of times in the middle of it, full passes over the whole process
    included, which nearly doubled the slowest sheets (p95 285 ms against p50 150 ms)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
        gc.collect(1)


def stylesheet(css):
    """The stylesheet of this CSS text, parsed once per process (its @font-face rules registered
    with the process's FontConfiguration), for write_pdf's `stylesheets`: WeasyPrint parses and
    validates every rule again for each document whose stylesheet is inline."""
    parsed = _stylesheets.get(css)
    if parsed is None:
        _, font_config = warm_up()
        from weasyprint import CSS
        with _render_lock:
            parsed = _stylesheets.setdefault(css, CSS(string=css, font_config=font_config))
    return parsed


def write_pdf(html, stylesheets=()):
    """The PDF of an HTML document (its stylesheet inline, or made by stylesheet(); fonts named by
    font_url())."""
    HTML, font_config = warm_up()
    with _render_lock, _one_collection_after():
        return HTML(string=html).write_pdf(font_config=font_config, stylesheets=list(stylesheets))
