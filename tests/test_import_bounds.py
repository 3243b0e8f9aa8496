"""Excel imports against hostile and broken files: the declared-range bomb, 600,000 rows, zip
bombs, entity bombs and damaged packages are refused quickly, in a bounded amount of memory,
with a Chinese message beside the file field (never a 500); a real 2,000-row file still imports."""
import io
import json
import re
import struct
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook
from sqlalchemy import func, select

from portal import spreadsheet
from portal.spreadsheet import tables
from portal.accounts.models import Unit
from portal.extensions import db
from portal.reservations import unit_import
from tests.test_unit_import import PROVINCE_FINANCE, code, logged_in_client, post_file, xlsx

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG = "http://schemas.openxmlformats.org/package/2006/relationships"
SHEET = "xl/worksheets/sheet1.xml"
ROWS = "文件超过5000行，请分批导入"
COLUMNS = "文件超过30列，请删除多余的列后重新导入"
TEMPLATE_HEADER = ["序号", "单位名称", "统一社会信用代码", "上级预算单位", "联系人", "手机号码"]


# --- building packages by hand: what a hostile tool writes, without openpyxl's help ---------------

def parts():
    """The parts every workbook has, but its sheet."""
    return {
        "[Content_Types].xml": (
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            f'<Override PartName="/{SHEET}" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>'),
        "_rels/.rels": (
            f'<Relationships xmlns="{PKG}"><Relationship Id="rId1" Target="xl/workbook.xml" '
            'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"/>'
            '</Relationships>'),
        "xl/workbook.xml": (f'<workbook xmlns="{MAIN}" xmlns:r="{REL}"><sheets>'
                            '<sheet name="单位" sheetId="1" r:id="rId1"/></sheets></workbook>'),
        "xl/_rels/workbook.xml.rels": (
            f'<Relationships xmlns="{PKG}"><Relationship Id="rId1" Target="worksheets/sheet1.xml" '
            f'Type="{REL}/worksheet"/></Relationships>'),
    }


def package(sheet=None, *, bare=False, **members):
    """An .xlsx whose sheet is `sheet` (bytes, or chunks written as they come); `bare`: only `members`."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for name, content in {**({} if bare else parts()), **members}.items():
            archive.writestr(name, content)
        if sheet is not None:
            with archive.open(SHEET, "w") as stream:
                for chunk in [sheet] if isinstance(sheet, bytes | str) else sheet:
                    stream.write(chunk.encode() if isinstance(chunk, str) else chunk)
    return buffer.getvalue()


def text_cell(ref, text):
    return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'


def header_and_units(count=3):
    """The template's header and a few good rows, as row elements."""
    letters = "ABCDEF"
    rows = ['<row r="1">' + "".join(text_cell(f"{c}1", h) for c, h in zip(letters, TEMPLATE_HEADER)) + "</row>"]
    for n in range(2, count + 2):
        values = [str(n - 1), f"省测试单位{n}", code(n), "", "张三", f"1391234{n:04d}"]
        rows.append(f'<row r="{n}">' + "".join(text_cell(f"{c}{n}", v) for c, v in zip(letters, values) if v)
                    + "</row>")
    return "".join(rows)


def sheet_xml(rows, dimension=None):
    dimension = f'<dimension ref="{dimension}"/>' if dimension else ""
    return f'<worksheet xmlns="{MAIN}">{dimension}<sheetData>{rows}</sheetData></worksheet>'


def the_bomb():
    """The issue's attack: a few KB that declare A1:XFD1048576 around a few real cells and one in
    Excel's last row and column; openpyxl pads every row in between out to the declared width."""
    last = '<row r="1048576"><c r="XFD1048576"><v>1</v></c></row>'
    return package(sheet_xml(header_and_units() + last, dimension="A1:XFD1048576"))


def many_rows(count=600_000, dimension=None, numbered=False):
    """A sheet of `count` rows written as it is generated, never held in memory whole."""
    yield f'<worksheet xmlns="{MAIN}">' + (f'<dimension ref="{dimension}"/>' if dimension else "") + "<sheetData>"
    yield '<row r="1">' + "".join(text_cell(f"{c}1", h) for c, h in zip("ABCDEF", TEMPLATE_HEADER)) + "</row>"
    batch = []
    for n in range(2, count + 2):
        batch.append(f'<row r="{n}"><c r="B{n}"><v>{n}</v></c></row>' if numbered else f"<row><c/><c><v>{n}</v></c></row>")
        if len(batch) == 10_000:
            yield "".join(batch)
            batch = []
    yield "".join(batch) + "</sheetData></worksheet>"


def lie_about_size(data, name, size):
    """The zip with `name`'s uncompressed size rewritten to `size` in its local and central headers."""
    data = bytearray(data)
    for signature, length_at, name_at, size_at in ((b"PK\x03\x04", 26, 30, 22), (b"PK\x01\x02", 28, 46, 24)):
        at = data.find(signature)
        while at != -1:
            length = struct.unpack_from("<H", data, at + length_at)[0]
            if data[at + name_at:at + name_at + length] == name.encode():
                struct.pack_into("<I", data, at + size_at, size)
            at = data.find(signature, at + 4)
    return bytes(data)


def refused(content, limits=spreadsheet.Limits()):
    with pytest.raises(spreadsheet.WorkbookRefused) as failed:
        spreadsheet.read_rows(content, limits)
    return failed.value.message


# --- the bombs of the issue, measured -------------------------------------------------------------

# The peak is this process's own VmHWM: ru_maxrss would carry over the high-water mark of the
# forking pytest process across exec (274 MB in a whole-suite run).
MEASURE = """
import json, re, resource, sys, time
resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))  # the old code would take 5.4 GB
from portal.errors import ValidationFailed
from portal.reservations import unit_import

def high_water_kb():
    with open("/proc/self/status") as status:
        return int(re.search(r"VmHWM:\\s+(\\d+) kB", status.read()).group(1))

data = open(sys.argv[1], "rb").read()
before = high_water_kb()
start = time.perf_counter()
try:
    unit_import.read_rows(data)
    message = None
except ValidationFailed as failed:
    message = failed.errors["file"]
seconds = time.perf_counter() - start
peak = high_water_kb()
print(json.dumps({"message": message, "seconds": seconds, "peak_mb": peak / 1024, "grew_mb": (peak - before) / 1024}))
"""


def measured(tmp_path, content):
    """Read `content` in a fresh Python, as a worker would: its message, time and peak memory."""
    path = tmp_path / "upload.xlsx"
    path.write_bytes(content)
    done = subprocess.run([sys.executable, "-c", MEASURE, str(path)], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parent.parent)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def test_the_declared_range_bomb_is_refused_within_a_second_in_little_memory(tmp_path):
    bomb = the_bomb()
    assert len(bomb) < 4.8 * 1024
    result = measured(tmp_path, bomb)
    assert result["message"] == ROWS
    assert result["seconds"] < 1
    assert result["peak_mb"] < 200 and result["grew_mb"] < 20, result


def test_six_hundred_thousand_rows_are_refused_quickly_with_the_row_limit(tmp_path):
    """No dimension to go by: the rows are counted as they come, and counting stops at 5,001."""
    content = package(many_rows())
    result = measured(tmp_path, content)
    assert result["message"] == ROWS
    assert result["seconds"] < 3
    assert result["peak_mb"] < 200 and result["grew_mb"] < 20, result


@pytest.mark.parametrize("content", [
    pytest.param(lambda: package(many_rows(dimension="A1:F600001")), id="declared-range"),
    pytest.param(lambda: package(many_rows(dimension="A1:F2")), id="lying-range"),
    pytest.param(lambda: package(sheet_xml(header_and_units() + '<row r="1048576"><c r="A1048576"><v>1</v></c></row>')),
                 id="last-row-of-excel"),
])
def test_rows_past_the_limit_are_refused_however_they_are_declared(content):
    start = time.perf_counter()
    assert refused(content()) == ROWS
    assert time.perf_counter() - start < 3


def test_a_realistic_600000_row_export_is_refused_by_its_size_before_reading():
    content = package(many_rows(numbered=True))
    start = time.perf_counter()
    assert refused(content) == "文件内容过大（解压后超过20MB），请分批导入"
    assert time.perf_counter() - start < 1


@pytest.mark.parametrize("row", [
    '<row r="2"><c r="XFD2"><v>1</v></c></row>',  # the last column of Excel
    '<row r="2"><c r="AE2"><v>1</v></c></row>',  # the 31st
    "<row>" + "<c/>" * 100_000 + "</row>",  # 100,000 cells, counted up to the 31st
    '<row r="2">' + '<c r="A2"><v>1</v></c>' * 40 + "</row>",  # one cell written forty times
], ids=["XFD", "AE", "unnumbered", "repeated"])
def test_columns_past_the_limit_are_refused(row):
    assert refused(package(sheet_xml(header_and_units() + row))) == COLUMNS
    assert refused(package(sheet_xml(header_and_units(), dimension="A1:AE4"))) == COLUMNS


def test_the_row_limit_is_a_setting():
    content = package(sheet_xml(header_and_units(10)))
    assert refused(content, spreadsheet.Limits(max_rows=10)) == "文件超过10行，请分批导入"
    assert len(spreadsheet.read_rows(content, spreadsheet.Limits(max_rows=11))) == 11


# --- zip bombs and parts that openpyxl would blow up ----------------------------------------------

def test_a_zip_bomb_member_is_refused_by_its_declared_size_before_it_is_read():
    content = package(sheet_xml(header_and_units()), **{"xl/media/image1.png": b"\0" * (64 << 20)})
    assert len(content) < 1 << 20  # 64 MB that zip to a few hundred KB
    start = time.perf_counter()
    assert refused(content) == "文件内容过大（解压后超过20MB），请分批导入"
    assert time.perf_counter() - start < 1


def test_a_member_that_lies_about_its_size_is_read_no_further_than_it_says():
    """zipfile stops at the declared size; the rest of the stream never leaves the zip."""
    sheet = sheet_xml(header_and_units() + "<row/>" * 2_000_000)
    content = lie_about_size(package(sheet), SHEET, 1000)
    start = time.perf_counter()
    assert refused(content) == spreadsheet.DAMAGED
    assert time.perf_counter() - start < 1


BIG_SHEET = sheet_xml("".join(f"<row>{'<c><v>1</v></c>' * 30}</row>" for _ in range(1000)))


def declaring(part, kind):
    """The content types with `part` declared as `kind` (sharedStrings, sheet.main for a workbook)."""
    override = (f'<Override PartName="/{part}" '
                f'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.{kind}+xml"/>')
    return parts()["[Content_Types].xml"].replace("<Override", override + "<Override", 1)


@pytest.mark.parametrize("members, message", [
    ({"xl/styles.xml": f'<styleSheet xmlns="{MAIN}"><cellXfs>' + "<xf/>" * 100_000 + "</cellXfs></styleSheet>"},
     spreadsheet.TOO_COMPLEX),
    ({"xl/sharedStrings.xml": f'<sst xmlns="{MAIN}">' + "<si><t>x</t></si>" * 200_000 + "</sst>"},
     spreadsheet.TOO_COMPLEX),
    ({f"xl/media/image{n}.png": b"\x89PNG" for n in range(600)}, spreadsheet.TOO_COMPLEX),
    # one sheet listed twice, or named by two relationships, would be read twice
    ({"xl/workbook.xml": f'<workbook xmlns="{MAIN}" xmlns:r="{REL}"><sheets>'
                         + "".join(f'<sheet name="s{n}" sheetId="{n}" r:id="rId1"/>' for n in range(1, 3))
                         + "</sheets></workbook>"}, spreadsheet.DAMAGED),
    ({"xl/_rels/workbook.xml.rels": f'<Relationships xmlns="{PKG}">'
                                    + "".join(f'<Relationship Id="rId{n}" Target="/{SHEET}" Type="{REL}/worksheet"/>'
                                              for n in range(1, 3)) + "</Relationships>"}, spreadsheet.DAMAGED),
    ({"xl/_rels/workbook.xml.rels": f'<Relationships xmlns="{PKG}"><Relationship Id="rId1" '
                                    f'Target="worksheets/sheet1.xml" Type="{REL}/chartsheet"/></Relationships>'},
     spreadsheet.TOO_COMPLEX),
    # a big sheet passed off as the shared strings or as the workbook would be parsed in one piece
    ({"xl/big.xml": BIG_SHEET, "[Content_Types].xml": declaring("xl/big.xml", "sharedStrings")}, spreadsheet.DAMAGED),
    ({"xl/big.xml": BIG_SHEET, "[Content_Types].xml": declaring("xl/big.xml", "sheet.main")}, spreadsheet.DAMAGED),
], ids=["styles", "shared-strings", "members", "sheet-listed-twice", "sheet-named-twice", "chart-sheet",
        "sheet-as-shared-strings", "sheet-as-workbook"])
def test_parts_that_openpyxl_would_blow_up_are_refused_before_it_opens_them(members, message):
    start = time.perf_counter()
    assert refused(package(sheet_xml(header_and_units()), **members)) == message
    assert time.perf_counter() - start < 5  # a bound for a loaded CI machine; unbounded took minutes


#: a billion laughs: a0 is "lol", each next entity ten of the one before
ENTITY_BOMB = ('<?xml version="1.0"?><!DOCTYPE worksheet [<!ENTITY a0 "lol">'
               + "".join(f'<!ENTITY a{n} "{f"&a{n - 1};" * 10}">' for n in range(1, 10))
               + f']><worksheet xmlns="{MAIN}"><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>&a9;</t></is>'
               "</c></row></sheetData></worksheet>")


# --- damaged files --------------------------------------------------------------------------------

MALFORMED = [
    pytest.param(lambda: b"name,code\n", spreadsheet.NOT_XLSX, id="csv"),
    pytest.param(lambda: b"%PDF-1.7\n" + b"\0" * 100, spreadsheet.NOT_XLSX, id="pdf-named-xlsx"),
    pytest.param(lambda: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 500, spreadsheet.OLD_FORMAT, id="xls"),
    pytest.param(lambda: xlsx([[1, "省测试单位", code(1), "", "张三", "13912340001"]])[:-200], spreadsheet.DAMAGED,
                 id="truncated-zip"),
    pytest.param(lambda: b"PK\x03\x04" + b"\0" * 100, spreadsheet.DAMAGED, id="zip-magic-only"),
    pytest.param(lambda: package(bare=True, **{"word/document.xml": "<w/>"}), spreadsheet.NOT_XLSX, id="zip-not-a-workbook"),
    pytest.param(lambda: package(b'<worksheet xmlns="' + MAIN.encode() + b'"><sheetData><row><c><v>1</v></row>'),
                 spreadsheet.DAMAGED, id="broken-sheet-xml"),
    pytest.param(lambda: package(sheet_xml(header_and_units()), **{"xl/workbook.xml": "<workbook><sheets>"}),
                 spreadsheet.DAMAGED, id="broken-workbook-xml"),
    pytest.param(lambda: package(sheet_xml(header_and_units()), **{"[Content_Types].xml": "not xml"}),
                 spreadsheet.DAMAGED, id="broken-content-types"),
    pytest.param(lambda: package(sheet_xml(header_and_units()),
                                 **{"xl/workbook.xml": f'<workbook xmlns="{MAIN}"><sheets/></workbook>'}),
                 spreadsheet.NO_SHEET, id="no-sheet"),
    pytest.param(lambda: package(sheet_xml('<row r="x"><c r="A1"><v>1</v></c></row>')), spreadsheet.DAMAGED,
                 id="row-number-not-a-number"),
    pytest.param(lambda: package(sheet_xml('<row r="1"><c r="1A"><v>1</v></c></row>')), spreadsheet.DAMAGED,
                 id="cell-reference-not-a-reference"),
    pytest.param(lambda: package(ENTITY_BOMB), spreadsheet.DAMAGED, id="entity-bomb"),
    pytest.param(lambda: package(sheet_xml(f'<row r="1"><c r="A1" t="inlineStr"><is><t>{"长" * 40_000}</t></is></c></row>')),
                 spreadsheet.DAMAGED, id="cell-longer-than-excel-allows"),
]


@pytest.mark.parametrize("content, message", MALFORMED)
def test_a_damaged_or_foreign_file_gets_its_chinese_message(content, message):
    assert refused(content()) == message


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(member=st.sampled_from(["xl/workbook.xml", "xl/styles.xml", "xl/sharedStrings.xml", SHEET,
                               "[Content_Types].xml", "xl/_rels/workbook.xml.rels"]),
       position=st.floats(0, 1), junk=st.binary(max_size=12), cut=st.booleans())
def test_whatever_is_broken_inside_a_real_workbook_is_a_message_never_an_exception(member, position, junk, cut):
    """A workbook from openpyxl with one part damaged in place, then zipped again properly: read,
    and copied with notes as for the file given back, it is a message or a result."""
    original = zipfile.ZipFile(io.BytesIO(FUZZ_BASE))
    damaged = {}
    for name in original.namelist():
        content = original.read(name)
        if name == member:
            at = int(position * len(content))
            content = content[:at] + junk + (b"" if cut else content[at + len(junk):])
        damaged[name] = content
    for attempt in (spreadsheet.read_rows, lambda data: spreadsheet.annotated_copy(
            data, header_row=1, column=7, header="错误原因", notes={2: "x"}, fill=tables.ERROR_FILL)):
        try:
            assert attempt(package(bare=True, **damaged)) is not None
        except spreadsheet.WorkbookRefused as refusal:
            assert refusal.message


FUZZ_BASE = xlsx([[1, "省测试单位", code(1), "", "张三", "13912340001"], [2, "乙", 13912340002, None, "=1+1", 3.5]])


# --- through the web ------------------------------------------------------------------------------

WEB_CASES = [
    pytest.param(the_bomb, ROWS, id="declared-range-bomb"),
    pytest.param(lambda: package(many_rows(count=20_000)), ROWS, id="too-many-rows"),
    pytest.param(lambda: package(sheet_xml(header_and_units()), **{"xl/media/image1.png": b"\0" * (64 << 20)}),
                 "文件内容过大（解压后超过20MB），请分批导入", id="zip-bomb"),
    *MALFORMED,
]


@pytest.mark.parametrize("content, message", WEB_CASES)
def test_a_hostile_upload_answers_422_with_the_message_beside_the_field(app, tree, login, content, message):
    with app.app_context():
        before = db.session.scalar(select(func.count(Unit.id)))
    client = logged_in_client(app, login, PROVINCE_FINANCE)
    response = post_file(client, content())
    page = response.get_data(as_text=True)
    assert response.status_code == 422, page[:500]
    assert re.search(r'<div class="invalid-feedback d-block" id="file-error">\s*' + re.escape(message), page)
    with app.app_context():
        assert db.session.scalar(select(func.count(Unit.id))) == before


def test_the_row_limit_setting_reaches_the_import_page(app_factory, tree, login):
    app = app_factory(IMPORT_MAX_ROWS=4)
    client = logged_in_client(app, login, PROVINCE_FINANCE)
    response = post_file(client, package(sheet_xml(header_and_units(4))))
    assert response.status_code == 422
    assert "文件超过4行，请分批导入" in response.get_data(as_text=True)


def two_thousand_units():
    return [[n, f"省测试单位{n:04d}", code(n), "", f"联系人{n}", f"1395{n:07d}"] for n in range(1, 2001)]


def test_a_2000_row_file_still_imports_over_http(app, tree, login):
    with app.app_context():
        before = db.session.scalar(select(func.count(Unit.id)))
    client = logged_in_client(app, login, PROVINCE_FINANCE)
    response = post_file(client, xlsx(two_thousand_units()))
    page = response.get_data(as_text=True)
    assert response.status_code == 200, page[:500]
    assert "已导入 2000 个预算单位" in page
    with app.app_context():
        assert db.session.scalar(select(func.count(Unit.id))) == before + 2000
        last = db.session.scalar(select(Unit).where(Unit.name == "省测试单位2000"))
        assert last.credit_code == code(2000) and last.accounts[0].phone == "13950002000"


def test_a_2000_row_file_with_one_bad_row_gives_back_the_whole_file_annotated(app, tree, login):
    rows = two_thousand_units()
    rows[1499][5] = "12345"
    client = logged_in_client(app, login, PROVINCE_FINANCE)
    response = post_file(client, xlsx(rows))
    assert response.status_code == 422
    assert "1 行有误，所有单位均未导入" in response.get_data(as_text=True)
    sheet = load_workbook(io.BytesIO(client.get("/budget-units/import/errors").data), read_only=True).worksheets[0]
    values = list(sheet.iter_rows(values_only=True))
    assert len(values) == 2001
    assert values[1500][:3] == (1500, "省测试单位1500", code(1500)) and values[1500][4:6] == ("联系人1500", "12345")
    assert values[1500][6].startswith("手机号码")
    assert values[2000][1] == "省测试单位2000" and values[2000][6] is None
