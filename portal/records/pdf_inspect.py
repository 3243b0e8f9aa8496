"""Inspect one voucher PDF read from stdin and print one verdict word: ok, active (scripts or
automatic actions), embedded (attachments or rich media), encrypted, long, broken.

Run as a child process by voucher_content.check_pdf, with no portal imports: pypdf's own
work on a hostile file is unbounded (a 17 KB cross-reference stream that declares two million
entries keeps it busy for half a minute), so the parent bounds it by wall-clock time and the
child limits its own memory and CPU.
"""
import io
import re
import resource
import sys

MAX_PAGES = 200
MEMORY_BYTES = 1024 * 1024 * 1024
CPU_SECONDS = 30

#: keys that hold scripts, automatic actions, attachments, rich media or XFA forms (XFA scripts)
FORBIDDEN_KEYS = {
    "/JS": "active", "/JavaScript": "active", "/AA": "active", "/XFA": "active",
    "/EmbeddedFile": "embedded", "/EmbeddedFiles": "embedded", "/EF": "embedded",
    "/RichMediaContent": "embedded", "/RichMediaSettings": "embedded",
}
#: action types that run code, start programs, send or load data, or open other files.
#: /URI stays allowed: a link on an e-invoice to the tax office's check page only follows a click.
FORBIDDEN_ACTIONS = {
    "/JavaScript", "/Launch", "/SubmitForm", "/ImportData", "/GoToR", "/GoToE", "/RichMediaExecute",
    "/Rendition", "/Movie", "/Sound",
}
FORBIDDEN_SUBTYPES = {"/FileAttachment", "/RichMedia", "/Movie", "/Sound", "/Screen", "/3D"}
#: names looked for in the raw bytes whatever pypdf makes of the file (a fallback for broken files)
RAW_LONG_NAMES = {b"JavaScript": "active", b"Launch": "active",
                  b"EmbeddedFile": "embedded", b"EmbeddedFiles": "embedded"}
RAW_NAME = re.compile(rb"/([^\s/\[\]<>(){}%]{1,127})")
HEX_ESCAPE = re.compile(rb"#([0-9A-Fa-f]{2})")


class Verdict(Exception):
    pass


def inspect(content):
    scan_raw(content)
    from pypdf import PdfReader  # after the limits are set: the import is part of the work

    reader = PdfReader(io.BytesIO(content), strict=False)
    if reader.is_encrypted:
        raise Verdict("encrypted")
    if len(reader.pages) > MAX_PAGES:
        raise Verdict("long")
    for obj in every_object(reader):
        check_object(obj)


def scan_raw(content):
    # "/JS" is short enough to turn up by chance inside compressed data: it is looked for only
    # outside stream bodies, where dictionaries live. The long names are looked for everywhere.
    for scope, names in ((content, RAW_LONG_NAMES), (outside_streams(content), {b"JS": "active"})):
        for match in RAW_NAME.finditer(scope):
            name = match.group(1)
            if b"#" in name:  # a name may spell its letters as #xx escapes: /J#53 is /JS
                name = HEX_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), name)
            if name in names:
                raise Verdict(names[name])


def outside_streams(content):
    parts, position = [], 0
    while (start := content.find(b"stream", position)) >= 0:
        body = start + len(b"stream")
        if content[start - 3:start] == b"end" or content[body:body + 1] not in (b"\r", b"\n"):
            parts.append(content[position:body])
            position = body
            continue
        end = content.find(b"endstream", body)
        if end < 0:
            break
        parts.append(content[position:start])
        position = end + len(b"endstream")
    parts.append(content[position:])
    return b" ".join(parts)


def every_object(reader):
    """The trailer and every object the cross-reference tables know, referenced or not."""
    from pypdf.generic import IndirectObject

    yield reader.trailer
    numbers = {(idnum, generation) for generation, table in reader.xref.items() for idnum in table}
    numbers.update((idnum, 0) for idnum in reader.xref_objStm)
    for idnum, generation in sorted(numbers):
        yield reader.get_object(IndirectObject(idnum, generation, reader))


def check_object(obj):
    # Walks the object's direct parts only: referenced objects are visited on their own.
    from pypdf.generic import ArrayObject, DictionaryObject

    pending = [obj]
    while pending:
        item = pending.pop()
        if isinstance(item, DictionaryObject):
            check_dictionary(item)
            pending.extend(dict.values(item))
        elif isinstance(item, ArrayObject):
            pending.extend(list.__iter__(item))


def check_dictionary(item):
    from pypdf.generic import DictionaryObject

    for key in dict.keys(item):
        if key in FORBIDDEN_KEYS:
            raise Verdict(FORBIDDEN_KEYS[key])
    if name_of(item, "/S") in FORBIDDEN_ACTIONS:
        raise Verdict("active")
    if name_of(item, "/Subtype") in FORBIDDEN_SUBTYPES or name_of(item, "/Type") == "/EmbeddedFile":
        raise Verdict("embedded")
    # Opening at a page is fine (a destination, or a GoTo action); any other action is not.
    opening = resolved(item, "/OpenAction")
    if isinstance(opening, DictionaryObject) and name_of(opening, "/S") != "/GoTo":
        raise Verdict("active")


def resolved(item, key):
    from pypdf.generic import IndirectObject

    value = dict.get(item, key)
    return value.get_object() if isinstance(value, IndirectObject) else value


def name_of(item, key):
    value = resolved(item, key)
    return str(value) if isinstance(value, str) else None


def main():
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_SECONDS, CPU_SECONDS))
    sys.setrecursionlimit(5000)
    try:
        inspect(sys.stdin.buffer.read())
    except Verdict as verdict:
        print(verdict.args[0])
    except Exception:  # noqa: BLE001 - pypdf raises many kinds of error on hostile files
        print("broken")
    else:
        print("ok")


if __name__ == "__main__":
    main()
