"""The package check behind portal.spreadsheet: an uploaded .xlsx measured before openpyxl opens it.

The zip's magic bytes, member count and declared sizes come first; then every part is streamed
through expat (C, constant memory, no DTD so no entity expansion) and what openpyxl would build
from it is counted against `Limits`, stopping at the first excess: the declared <dimension>
before any row, rows and cells as they come, elements of the parts openpyxl loads whole (styles,
workbook, relationships), shared strings, and the few ways one part gets read many times.
"""
import io
import logging
import posixpath
import zipfile
import zlib
from contextlib import contextmanager
from dataclasses import dataclass, field
from xml.etree.ElementTree import ParseError
from xml.parsers import expat

from openpyxl.utils import exceptions as openpyxl_errors
from openpyxl.utils.cell import column_index_from_string, coordinate_from_string, range_boundaries

log = logging.getLogger(__name__)

NOT_XLSX = "该文件不是Excel文件（.xlsx），请使用导入模板，保存为 .xlsx 格式后上传"
OLD_FORMAT = "不支持旧版 .xls 格式或加密的Excel文件，请在Excel中另存为不加密的 .xlsx 格式后上传"
DAMAGED = "文件已损坏或不是有效的Excel文件（.xlsx）"
TOO_BIG = "文件内容过大（解压后超过{mb}MB），请分批导入"
TOO_COMPLEX = "文件内容过于复杂（格式、图表或对象过多），请把数据复制到导入模板后重新上传"
TOO_MANY_ROWS = "文件超过{rows}行，请分批导入"
TOO_MANY_COLUMNS = "文件超过{columns}列，请删除多余的列后重新导入"
NO_SHEET = "文件中没有工作表"

ZIP_MAGIC = b"PK\x03\x04"
#: an OLE compound file: Excel 97-2003 (.xls), or an .xlsx that Excel saved with a password
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
WORKBOOK_PART = "xl/workbook.xml"
MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
RELS_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
REL_ID = "http://schemas.openxmlformats.org/officeDocument/2006/relationships id"
CONTENT_TYPES_NS = "http://schemas.openxmlformats.org/package/2006/content-types"
#: parts openpyxl reads whole from where they are, whatever the package says they are
WHOLE_PARTS = {"[Content_Types].xml", "xl/workbook.xml", "xl/styles.xml", "docProps/core.xml", "docProps/custom.xml"}
CHUNK = 64 * 1024

#: what openpyxl, zipfile and expat raise on a damaged or hostile package: their failures on
#: malformed input are open-ended (descriptor TypeErrors, style IndexErrors, missing parts)
BROKEN = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, OSError, RuntimeError, LookupError,
          ValueError, TypeError, AttributeError, expat.ExpatError, ParseError, openpyxl_errors.InvalidFileException,
          openpyxl_errors.CellCoordinatesException, openpyxl_errors.IllegalCharacterError,
          openpyxl_errors.NamedRangeException, openpyxl_errors.SheetTitleException)


@dataclass(frozen=True)
class Limits:
    """How much of a workbook is read; past any of it the file is refused, never cut short."""

    max_rows: int = 5000
    max_columns: int = 30
    #: parts in the zip; a workbook from Excel or WPS has ten to a few dozen
    max_members: int = 500
    #: all parts together once decompressed, declared and read (a zip bomb stops here)
    max_unpacked_mb: int = 20
    #: elements of one part outside the cells (styles, workbook, rels, a sheet's settings):
    #: openpyxl takes 3.6 s for 100,000 styles, so a bloated style table is refused instead
    max_part_elements: int = 20_000
    #: Excel's own limit for the text of one cell
    max_text: int = 32_767

    @property
    def cells(self):
        return self.max_rows * self.max_columns


class WorkbookRefused(Exception):
    """The upload is not a workbook that may be read; `message` says why, in Chinese."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


@dataclass
class SheetLayout:
    """What the copy with notes keeps of a sheet besides its cells."""
    #: (first column, last column, width or None, style index or None) of each <col>
    columns: list = field(default_factory=list)
    #: the top-left cell of the unfrozen part, as "A2"
    frozen: str | None = None


def _open_zip(data, limits):
    """The zip, once its magic bytes, member count and declared sizes are inside the limits."""
    if data[:len(OLE_MAGIC)] == OLE_MAGIC:
        raise WorkbookRefused(OLD_FORMAT)
    if data[:len(ZIP_MAGIC)] != ZIP_MAGIC:
        raise WorkbookRefused(NOT_XLSX)
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except BROKEN:
        raise WorkbookRefused(DAMAGED) from None
    if WORKBOOK_PART not in archive.NameToInfo:
        raise WorkbookRefused(NOT_XLSX)
    if len(members) > limits.max_members:
        raise WorkbookRefused(TOO_COMPLEX)
    # zipfile never yields more than a member declares, so the declared sizes bound the work
    if sum(m.file_size for m in members) > limits.max_unpacked_mb * 1024 * 1024:
        raise WorkbookRefused(TOO_BIG.format(mb=limits.max_unpacked_mb))
    return archive


def _refuse_doctype(*_):
    # No part of a workbook has a DTD: refusing one ends entity expansion before it starts.
    raise WorkbookRefused(DAMAGED)


def _main(local):
    return f"{MAIN_NS} {local}"


ROW, CELL, SHEET_DATA, SHARED_STRING = _main("row"), _main("c"), _main("sheetData"), _main("si")
RELATIONSHIP = f"{RELS_NS} Relationship"


class _Scan:
    """Counts what openpyxl would build from the package's XML, and stops at the first excess."""

    def __init__(self, limits):
        self.limits = limits
        self.elements = self.cells = self.strings = 0
        # four elements a cell (c, v or is/t, f), and the parts around them
        self.max_elements = 4 * limits.cells + 5 * limits.max_part_elements
        self.layouts, self.big, self.overrides, self.links = {}, {}, [], []
        self.handlers = {f"{CONTENT_TYPES_NS} Override": self._override, ROW: self._row, SHARED_STRING: self._shared_string, RELATIONSHIP: self._relationship,
                         _main("sheetData"): self._sheet_data, _main("dimension"): self._dimension,
                         _main("sheet"): self._sheet, _main("col"): self._column, _main("pane"): self._pane}

    def part(self, name, stream):
        self.name, self.root, self.layout = name, None, None
        self.part_elements = self.depth = self.text = self.row = self.rows = 0
        self.in_data = self.in_row = False
        self.targets, self.sheet_ids = set(), set()
        elements_before = self.elements
        parser = expat.ParserCreate(namespace_separator=" ")
        parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        parser.StartDoctypeDeclHandler = parser.EntityDeclHandler = _refuse_doctype
        parser.StartElementHandler = self.start
        parser.EndElementHandler = self.end
        parser.CharacterDataHandler = self.characters
        parser.buffer_text = True
        try:
            while chunk := stream.read(CHUNK):
                parser.Parse(chunk, False)
            parser.Parse(b"", True)
        except expat.ExpatError:
            # Not XML (a picture, printer settings) or broken XML: openpyxl, if it parses this
            # part at all, meets the same error at the same place, after what was counted here.
            pass
        if self.elements - elements_before > self.limits.max_part_elements:
            # only a sheet's rows or shared strings get here, which openpyxl reads one at a time
            self.big[name] = "worksheet" if self.layout is not None else "sharedStrings"

    def finish(self):
        """A part too big for openpyxl to parse whole may only be read as the kind it is: a sheet
        that the package calls its shared strings or its workbook would be parsed in one piece."""
        for name, kind in self.big.items():
            named = [t for part, t in self.overrides if part == name] + [t for part, t in self.links if part == name]
            if name in WHOLE_PARTS or "_rels/" in name or any(not t.endswith((f"/{kind}", f"{kind}+xml"))
                                                             for t in named):
                raise WorkbookRefused(DAMAGED)

    def start(self, name, attrs):
        self.text = 0
        self.elements += 1
        if self.elements > self.max_elements:
            raise WorkbookRefused(TOO_COMPLEX)
        if self.depth == 0:
            self.root = name
            if name == _main("worksheet"):
                self.layout = self.layouts[self.name] = SheetLayout()
        self.depth += 1
        if self.in_row:
            self.row_elements += 1
            if self.row_elements > 64 * self.limits.max_columns:  # a few runs of rich text a cell
                raise WorkbookRefused(TOO_COMPLEX)
            if name == CELL:
                self._cell(attrs.get("r"))
            return
        # shared strings are bounded by their count, rows by the row limit, the rest here
        if self.root != _main("sst") and not (self.in_data and name == ROW):
            self.part_elements += 1
            if self.part_elements > self.limits.max_part_elements:
                raise WorkbookRefused(TOO_COMPLEX)
        handler = self.handlers.get(name)
        if handler:
            handler(attrs)

    def end(self, name):
        self.text = 0
        self.depth -= 1
        if name == ROW:
            self.in_row = False
        elif name == SHEET_DATA:
            self.in_data = False

    def characters(self, data):
        self.text += len(data)
        if self.text > self.limits.max_text:
            raise WorkbookRefused(DAMAGED)

    def _sheet_data(self, _):
        self.in_data = self.layout is not None

    def _dimension(self, attrs):
        # the declared range, checked before any row is read: A1:XFD1048576 stops here
        if attrs.get("ref"):
            _, _, max_col, max_row = range_boundaries(attrs["ref"])
            self._check_rows(max_row or 1)
            self._check_columns(max_col or 1)

    def _row(self, attrs):
        if not self.in_data:
            return
        # as openpyxl reads it: r="7", r="7.0", or one after the row before
        self.rows += 1
        if "r" in attrs:
            value = float(attrs["r"])
            if not value.is_integer():
                raise WorkbookRefused(DAMAGED)
            self.row = int(value)
        else:
            self.row += 1
        self._check_rows(max(self.row, self.rows))
        self.in_row = True
        self.row_elements = self.column = self.row_cells = 0

    def _cell(self, coordinate):
        self.row_cells += 1
        self.cells += 1
        if self.cells > 2 * self.limits.cells:
            raise WorkbookRefused(TOO_COMPLEX)
        if coordinate:
            letters, row = coordinate_from_string(coordinate)
            self.column = column_index_from_string(letters)
            self._check_rows(row)
        else:
            self.column += 1
        self._check_columns(max(self.column, self.row_cells))

    def _shared_string(self, _):
        self.strings += 1
        if self.strings > self.limits.cells:
            raise WorkbookRefused(TOO_COMPLEX)

    def _sheet(self, attrs):
        # one sheet listed twice would be read twice
        if self.root == _main("workbook"):
            if attrs.get(REL_ID) in self.sheet_ids:
                raise WorkbookRefused(DAMAGED)
            self.sheet_ids.add(attrs.get(REL_ID))

    def _relationship(self, attrs):
        kind = attrs.get("Type", "")
        if "chartsheet" in kind:
            # openpyxl reads a chart sheet's drawing even when streaming, and in it a chart or
            # picture shown a thousand times is read a thousand times
            raise WorkbookRefused(TOO_COMPLEX)
        if attrs.get("TargetMode") == "External":
            return
        # resolved as openpyxl does
        target = attrs.get("Target", "")
        folder = posixpath.dirname(posixpath.dirname(self.name))
        target = target[1:] if target.startswith("/") else posixpath.normpath(posixpath.join(folder, target))
        self.links.append((target, kind))
        if kind.endswith("/worksheet"):
            # a sheet that two relationships name would be read twice
            if target in self.targets:
                raise WorkbookRefused(DAMAGED)
            self.targets.add(target)

    def _override(self, attrs):
        self.overrides.append((attrs.get("PartName", "").lstrip("/"), attrs.get("ContentType", "")))

    def _column(self, attrs):
        if self.layout is not None:
            self.layout.columns.append((int(attrs.get("min", 1)), int(attrs.get("max", 1)),
                                        float(attrs["width"]) if "width" in attrs else None,
                                        int(attrs["style"]) if "style" in attrs else None))

    def _pane(self, attrs):
        if self.layout is not None and attrs.get("state") == "frozen":
            self.layout.frozen = attrs.get("topLeftCell")

    def _check_rows(self, row):
        if row > self.limits.max_rows:
            raise WorkbookRefused(TOO_MANY_ROWS.format(rows=self.limits.max_rows))
        if row < 1:
            raise WorkbookRefused(DAMAGED)

    def _check_columns(self, column):
        if column > self.limits.max_columns:
            raise WorkbookRefused(TOO_MANY_COLUMNS.format(columns=self.limits.max_columns))
        if column < 1:
            raise WorkbookRefused(DAMAGED)


@contextmanager
def refusing():
    """Turns whatever a damaged package makes zipfile, expat or openpyxl raise into DAMAGED."""
    try:
        yield
    except BROKEN as error:
        log.info("workbook refused as damaged: %r", error)
        raise WorkbookRefused(DAMAGED) from None


def check_package(data, limits=Limits()):
    """Refuse `data` unless it is an .xlsx whose every part is inside `limits`.

    Nothing is materialised: the declared sizes are checked first, then each part is streamed
    through a counting parser that stops at the first thing over a limit. Returns each sheet
    part's SheetLayout by part name.
    """
    archive = _open_zip(data, limits)
    scan = _Scan(limits)
    # the sheets first, so that a sheet over the row limit says so
    members = sorted(archive.infolist(), key=lambda m: not m.filename.startswith("xl/worksheets/"))
    with refusing():
        for member in members:
            with archive.open(member) as stream:
                scan.part(member.filename, stream)
    scan.finish()
    return scan.layouts


