"""Reading an uploaded .xlsx without trusting it: bounded in memory and time, whatever it declares.

A hostile workbook can be a zip bomb, declare the range A1:XFD1048576, hold 600,000 rows, a row
of a million cells, 100,000 styles, one sheet listed a thousand times, an entity bomb or broken
XML. Before openpyxl sees a byte, every XML part is streamed through expat (C, constant memory)
and counted against `Limits`; only a file inside them is opened, and only in openpyxl's streaming
(read-only) mode: its full mode reads a picture or chart again for every place it is shown. So
the file given back with notes is a copy of the sheets' cells and styles, not the file re-saved.
Whatever is wrong ends in a `WorkbookRefused` with a Chinese message, never a 500 or a
MemoryError. Nothing here knows the request.
"""
import io
from copy import copy

from openpyxl import Workbook, load_workbook
from openpyxl.cell.read_only import EMPTY_CELL, ReadOnlyCell
from openpyxl.styles import Font, PatternFill
from openpyxl.styles.numbers import BUILTIN_FORMATS, BUILTIN_FORMATS_MAX_SIZE
from openpyxl.utils import get_column_letter

from portal.spreadsheet.package import (  # noqa: F401 (the messages are part of the interface)
    DAMAGED, NO_SHEET, NOT_XLSX, OLD_FORMAT, TOO_BIG, TOO_COMPLEX, TOO_MANY_COLUMNS, TOO_MANY_ROWS, Limits,
    WorkbookRefused, check_package, refusing)


def _open(data, limits, *, data_only):
    layouts = check_package(data, limits)
    # keep_links=False: links to other workbooks carry cached copies of their sheets
    workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=data_only, keep_links=False)
    if not workbook.worksheets:
        workbook.close()
        raise WorkbookRefused(NO_SHEET)
    return workbook, layouts


def _sheet_rows(sheet, limits, values_only):
    """The rows as they come, never padded out to the declared <dimension>, counted again here."""
    sheet.reset_dimensions()
    for count, row in enumerate(sheet.iter_rows(max_col=limits.max_columns, values_only=values_only), start=1):
        if count > limits.max_rows:
            raise WorkbookRefused(TOO_MANY_ROWS.format(rows=limits.max_rows))
        width = len(row)
        while width and _blank(row[width - 1]):
            width -= 1
        yield row[:width]


def _blank(cell):
    """Nothing in it: no value, and (a cell rather than a value) no style either."""
    if cell is None or cell is EMPTY_CELL:
        return True
    return isinstance(cell, ReadOnlyCell) and cell.value is None and not cell.has_style


# --- reading -------------------------------------------------------------------------------------

def read_rows(data, limits=Limits(), *, formulas=False):
    """The first worksheet's rows as tuples of cell values, trailing empty cells cut off.

    Formulas come back as their cached values, or with `formulas` as typed ("=A1+1"). Raises
    WorkbookRefused for anything that is not a workbook inside `limits`.
    """
    with refusing():
        workbook, _ = _open(data, limits, data_only=not formulas)
        try:
            return list(_sheet_rows(workbook.worksheets[0], limits, values_only=True))
        finally:
            workbook.close()


# --- the file given back with notes ---------------------------------------------------------------

def annotated_copy(data, *, header_row, column, header, notes, fill, clear_fill=False, limits=Limits()):
    """A copy of the workbook, every sheet's cells with their styles, column widths and frozen
    panes, whose first sheet has `header` in (`header_row`, `column`) and, below it, the note of
    each row in `notes` ({row number: text}) with the row's cells filled with `fill`.

    Below the header, what `column` held is replaced; with `clear_fill`, cells of rows without a
    note lose `fill` (a file sent back with its notes corrected).
    """
    with refusing():
        source, layouts = _open(data, limits, data_only=False)
        try:
            # in memory rather than write-only: a write-only sheet leaves a temporary file behind
            # when the copy stops half way; the package check bounds the cells held here
            target = Workbook()
            target.remove(target.active)
            styles = {}
            for sheet in source.worksheets:
                copied = target.create_sheet(sheet.title)
                _copy_layout(source, layouts.get(sheet._worksheet_path), copied, limits)
                for number, row in enumerate(_sheet_rows(sheet, limits, values_only=False), start=1):
                    for cell in row:
                        _copy_cell(copied, cell, number, styles)
            _annotate(target.worksheets[0], header_row, column, header, notes, fill, clear_fill)
            buffer = io.BytesIO()
            target.save(buffer)
            return buffer.getvalue()
        finally:
            source.close()


def _annotate(sheet, header_row, column, header, notes, fill, clear_fill):
    note_cell = sheet.cell(row=header_row, column=column, value=header)
    note_cell.font = Font(bold=True)
    sheet.column_dimensions[get_column_letter(column)].width = 60
    no_fill = PatternFill(fill_type=None)
    for number in range(header_row + 1, max([sheet.max_row, *notes]) + 1):
        note = notes.get(number)
        if note is None and not clear_fill:
            continue
        sheet.cell(row=number, column=column).value = note
        for cell in (sheet.cell(row=number, column=c) for c in range(1, column + 1)):
            if note:
                cell.fill = fill
            elif cell.fill == fill:
                cell.fill = no_fill


def _copy_cell(sheet, cell, row, styles):
    """A copy of a read-only cell: the value as it was typed, the style as it looked."""
    if cell is EMPTY_CELL:
        return
    copied = sheet.cell(row=row, column=cell.column, value=cell.value)
    if cell.value is not None and cell.data_type in ("s", "f", "e"):
        copied.data_type = cell.data_type  # text starting with "=" stays text
    if cell.has_style:
        if cell._style_id not in styles:
            for name in ("font", "fill", "border", "alignment", "protection", "number_format"):
                setattr(copied, name, copy(getattr(cell, name)))
            styles[cell._style_id] = copy(copied._style)
        copied._style = copy(styles[cell._style_id])


def _copy_layout(source, layout, sheet, limits):
    if layout is None:
        return
    if layout.frozen:
        sheet.freeze_panes = layout.frozen
    for first, last, width, style in layout.columns:
        for column in range(max(first, 1), min(last, limits.max_columns + 1) + 1):
            dimension = sheet.column_dimensions[get_column_letter(column)]
            if width is not None:
                dimension.width = width
            if style is not None:
                dimension.number_format = _number_format(source, style)


def _number_format(workbook, style):
    format_id = workbook._cell_styles[style].numFmtId
    if format_id < BUILTIN_FORMATS_MAX_SIZE:
        return BUILTIN_FORMATS.get(format_id, "General")
    return workbook._number_formats[format_id - BUILTIN_FORMATS_MAX_SIZE]
