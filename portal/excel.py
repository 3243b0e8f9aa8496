"""Excel files people download: a bold frozen header with an autofilter, set column widths,
number formats, codes and phones kept as text, and typed text never turned into a formula."""
import io

from flask import send_file
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from portal.clock import to_china, utcnow

#: what Excel would read as the start of a formula in a typed name (CSV/formula injection)
FORMULA_STARTS = ("=", "+", "-", "@")


def _cell(sheet, value, number_format=None):
    cell = WriteOnlyCell(sheet, value=value)
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        cell.data_type = "s"
    if number_format:
        cell.number_format = number_format
    return cell


def _add_sheet(workbook, title, columns, rows, max_rows=None):
    sheet = workbook.create_sheet(title[:31])
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(columns))}1"
    for index, (_, width, _) in enumerate(columns, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    header = []
    for text, _, _ in columns:
        cell = WriteOnlyCell(sheet, value=text)
        cell.font = Font(bold=True)
        header.append(cell)
    sheet.append(header)
    for count, values in enumerate(rows, start=1):
        if max_rows is not None and count > max_rows:
            break
        sheet.append([_cell(sheet, value, fmt) for value, (_, _, fmt) in zip(values, columns)])


def xlsx_download(title, columns, rows, *, max_rows=None):
    """`columns` is a list of (header, width, number format or None); `rows` yields value lists."""
    return xlsx_workbook_download(title, [(title, columns, rows)], max_rows=max_rows)


XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def write_workbook(target, sheets, *, max_rows=None):
    """Write sheets, each (sheet title, columns, rows) as for xlsx_download, to a file or path.
    Rows are read as they are written (write-only mode): a large export is never all in memory."""
    workbook = Workbook(write_only=True)
    for sheet_title, columns, rows in sheets:
        _add_sheet(workbook, sheet_title, columns, rows, max_rows)
    workbook.save(target)


def download_name(title):
    return f"{title}-{to_china(utcnow()):%Y%m%d-%H%M}.xlsx"


def xlsx_workbook_download(title, sheets, *, max_rows=None):
    """A file of several sheets, each (sheet title, columns, rows) as for xlsx_download."""
    buffer = io.BytesIO()
    write_workbook(buffer, sheets, max_rows=max_rows)
    buffer.seek(0)
    return send_file(buffer, as_attachment=True, download_name=download_name(title), mimetype=XLSX_TYPE)
