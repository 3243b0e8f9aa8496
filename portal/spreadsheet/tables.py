"""A table a person uploads: the first sheet, its header row found by name among the first rows,
columns known by their header text, and the person's own file given back with an 错误原因 column
beside each wrong row. The budget-unit import and the 832 import read their files this way.
Whatever cannot be read ends in ValidationFailed({"file": <Chinese message>})."""
from datetime import date, datetime

from openpyxl.styles import PatternFill

from portal.errors import ValidationFailed
from portal.spreadsheet import WorkbookRefused, annotated_copy, read_rows

ERROR_HEADER = "错误原因"
#: light red, as Excel's own "bad" cell style
ERROR_FILL = PatternFill(fill_type="solid", start_color="FFFFC7CE", end_color="FFFFC7CE")
#: rows looked at for the header, for sheets with a title line above it
HEADER_SEARCH_ROWS = 10


def cell_text(value):
    """A cell as the text a person typed: numbers Excel made of codes and phones come back whole."""
    if value is None:
        return ""
    if isinstance(value, bool | int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value).strip()


def header_key(value):
    """单位名称, ' 单位名称* ' and 单位名称（必填） all name the same column."""
    text = cell_text(value).replace(" ", "").replace("\u3000", "").replace("*", "").replace("＊", "")
    for bracket in ("（", "("):
        text = text.split(bracket)[0]
    return text


def find_header(rows, columns, marker):
    """(index in `rows`, {key: column index}) of the first row among the first few with a header
    that `columns` ({header text: key}) maps to `marker`; the first column of a key wins.
    (None, {}) when no row has one."""
    for index, values in enumerate(rows[:HEADER_SEARCH_ROWS]):
        keys = [columns.get(header_key(v)) for v in values]
        if marker in keys:
            found = {}
            for position, key in enumerate(keys):
                if key is not None:
                    found.setdefault(key, position)
            return index, found
    return None, {}


def sheet_values(data, limits, *, max_bytes, formulas=False):
    """The first sheet's rows, read within `limits` (portal.spreadsheet: no bomb gets through)."""
    if not data:
        raise ValidationFailed({"file": "请选择要导入的Excel文件"})
    if len(data) > max_bytes:
        raise ValidationFailed({"file": f"文件不能超过{max_bytes // 1024 // 1024}MB"})
    try:
        return read_rows(data, limits, formulas=formulas)
    except WorkbookRefused as refused:
        raise ValidationFailed({"file": refused.message}) from None


def error_workbook(data, errors_by_row, *, columns, marker, limits, max_bytes):
    """The person's own file with an 错误原因 column: each wrong row's messages and a light red fill.
    A file sent back with an 错误原因 column already (a corrected error file) reuses it."""
    # formulas as typed, so that the new column lands right of every cell, computed or not
    values = sheet_values(data, limits, max_bytes=max_bytes, formulas=True)
    header_index, _ = find_header(values, columns, marker)
    header_row = (header_index or 0) + 1
    header = values[header_row - 1] if len(values) >= header_row else ()
    existing = next((i for i, v in enumerate(header, start=1) if header_key(v) == ERROR_HEADER), None)
    try:
        return annotated_copy(
            data, header_row=header_row, column=existing or max(map(len, values), default=0) + 1,
            header=ERROR_HEADER, notes={n: "；".join(m) for n, m in errors_by_row.items()}, fill=ERROR_FILL,
            clear_fill=existing is not None, limits=limits)
    except WorkbookRefused as refused:
        raise ValidationFailed({"file": refused.message}) from None
