"""Build the font the PDF confirmation sheets print with: Noto Sans CJK SC Regular cut down
to the characters of GB 2312 (6,763 hanzi and its symbols), ASCII and the CJK punctuation
blocks, renamed "Noto Sans CJK SC Sheet".

Why: WeasyPrint subsets the font of every PDF it writes. From the full 65,535-glyph Noto
collection that costs about 50 ms a sheet and leaves 180 KB files; from this 7,700-glyph
cut it costs a few ms and the files are 70 KB. A character outside the cut (a rare
character in a unit's name) still prints: the sheet's stylesheet falls back to the system's
Noto Sans CJK SC for it.

    .venv/bin/python scripts/subset_sheet_font.py [SOURCE.ttc]

The result is committed (portal/reservations/fonts/), with the SIL Open Font License it is
under, so that neither a deployment nor CI has to rebuild it (about 15 s).
"""
import sys
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTCollection

SOURCE = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"
TARGET = Path(__file__).resolve().parent.parent / "portal/reservations/fonts/NotoSansCJKsc-Sheet.otf"
FAMILY = "Noto Sans CJK SC Sheet"
POSTSCRIPT_NAME = "NotoSansCJKsc-Sheet"


def gb2312_characters():
    characters = set()
    for high in range(0xA1, 0xF8):
        for low in range(0xA1, 0xFF):
            try:
                characters.add(ord(bytes([high, low]).decode("gb2312")))
            except UnicodeDecodeError:
                pass
    return characters


def wanted_codepoints():
    ascii_printable = set(range(0x20, 0x7F))
    cjk_punctuation = set(range(0x3000, 0x3040))
    fullwidth_forms = set(range(0xFF00, 0xFFF0))
    general_punctuation = {0x00B7, 0x2014, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2026, 0x2030}
    return gb2312_characters() | ascii_printable | cjk_punctuation | fullwidth_forms | general_punctuation


def simplified_chinese_face(source):
    collection = TTCollection(source)
    for face in collection.fonts:
        if face["name"].getDebugName(1) == "Noto Sans CJK SC":
            return face
    raise SystemExit(f"{source} has no Noto Sans CJK SC face")


def main(argv):
    source = argv[1] if len(argv) > 1 else SOURCE
    font = simplified_chinese_face(source)
    options = subset.Options()
    # horizontal text only: no vertical forms, no other locales' glyph variants
    options.layout_features = ["ccmp", "kern", "liga"]
    options.name_IDs = ["*"]
    options.notdef_outline = True
    options.desubroutinize = True         # WeasyPrint would desubroutinize on every sheet otherwise
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=wanted_codepoints())
    subsetter.subset(font)
    names = font["name"]
    for record in list(names.names):
        if record.nameID in (1, 16):
            names.setName(FAMILY, record.nameID, record.platformID, record.platEncID, record.langID)
        elif record.nameID == 4:
            names.setName(FAMILY, 4, record.platformID, record.platEncID, record.langID)
        elif record.nameID == 6:
            names.setName(POSTSCRIPT_NAME, 6, record.platformID, record.platEncID, record.langID)
    # The CFF table carries its own copy of the PostScript name.
    font["CFF "].cff.fontNames = [POSTSCRIPT_NAME]
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    font.save(TARGET)
    print(f"{TARGET}: {TARGET.stat().st_size:,} bytes, {len(font.getGlyphOrder()):,} glyphs")


if __name__ == "__main__":
    main(sys.argv)
