"""What a voucher file may contain: images are decoded in full and re-encoded (EXIF, GPS,
comments and anything after the picture are gone), PDFs are refused when they can run or
carry something, and file names lose the characters that break headers or fool the eye.

Nothing here knows the request or the database; every refusal is a ValidationFailed on
the "file" field with a message for the uploader."""
import io
import re
import subprocess
import sys
import unicodedata
import warnings
from contextlib import contextmanager
from pathlib import Path

from PIL import ExifTags, Image, ImageFile, ImageOps

from portal.errors import ValidationFailed
from portal.records.pdf_inspect import MAX_PAGES as MAX_PDF_PAGES

#: a voucher photo above this is a decompression bomb or needlessly large (8000 × 5000)
MAX_PIXELS = 40_000_000
#: characters of a stored file name, extension included
MAX_NAME_LENGTH = 100
DEFAULT_STEM = "凭证"

BROKEN_IMAGE = "文件已损坏或不是有效的图片，请重新拍照或导出后再上传"
HUGE_IMAGE = f"图片像素过大（超过{MAX_PIXELS // 10_000}万像素），请缩小后再上传"
BROKEN_PDF = "PDF文件已损坏，无法读取，请重新导出后再上传"
ACTIVE_PDF = "PDF中含有脚本或自动执行的动作，不能作为凭证上传，请打印为普通PDF后再上传"
EMBEDDED_PDF = "PDF中含有附件或多媒体内容，不能作为凭证上传，请打印为普通PDF后再上传"
ENCRYPTED_PDF = "PDF文件已加密，请取消密码保护后再上传"
LONG_PDF = f"PDF超过{MAX_PDF_PAGES}页，请只上传与本次采购有关的页面"
COMPLEX_PDF = "PDF文件结构过于复杂，无法检查，请打印为普通PDF后再上传"


def _refuse(message):
    raise ValidationFailed({"file": message})


# ---- file names ------------------------------------------------------------------------------

#: control (C0, C1, DEL), format (bidi overrides and isolates, zero-width), line and paragraph
#: separators, surrogates and unassigned code points
_DROPPED_CATEGORIES = {"Cc", "Cf", "Zl", "Zp", "Cs", "Cn"}


def clean_filename(name):
    """The last path component of `name`, NFC, without invisible or line-breaking characters,
    at most MAX_NAME_LENGTH characters with its extension kept; "" when nothing is left."""
    name = unicodedata.normalize("NFC", name or "")
    # Line breaks and tabs part words; other invisible characters go without a trace.
    name = "".join(" " if ch.isspace() else ch for ch in name
                   if ch.isspace() or unicodedata.category(ch) not in _DROPPED_CATEGORIES)
    name = re.split(r"[/\\]", name)[-1]
    name = " ".join(name.split()).rstrip(" .")
    stem, dot, extension = name.rpartition(".")
    if not dot or not extension.isascii() or not extension.isalnum() or len(extension) > 5:
        stem, extension = name, ""
    extension = f".{extension}" if extension else ""
    stem = stem.strip(" .")[:MAX_NAME_LENGTH - len(extension)].rstrip(" .")
    if not stem:
        return DEFAULT_STEM + extension if extension else ""
    return stem + extension


def served_name(name, extension):
    """The name a stored voucher is offered under: cleaned again, since rows written before
    names were cleaned may hold CR/LF, and never empty."""
    return clean_filename(name) or DEFAULT_STEM + extension


# ---- images ----------------------------------------------------------------------------------

#: PNG modes written back as they are; others become RGBA
_PNG_MODES = {"1", "L", "LA", "P", "RGB", "RGBA", "I;16"}


def clean_image(content, content_type):
    """The picture re-encoded in its own format, upright, with nothing of the upload but its
    pixels. Refuses files that do not decode in full and pictures above MAX_PIXELS."""
    image_format = "JPEG" if content_type == "image/jpeg" else "PNG"
    try:
        with warnings.catch_warnings():
            # Pillow warns between its own limit and twice it; a warning must stop the decode too.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(content), formats=[image_format]) as image:
                if image.width * image.height > MAX_PIXELS:
                    _refuse(HUGE_IMAGE)
                with _truncation_refused():
                    image.load()
                return _reencode(_upright(image), image_format)
    except ValidationFailed:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        _refuse(HUGE_IMAGE)
    except Exception:  # noqa: BLE001 - any decoder failure on hostile bytes is a broken file
        _refuse(BROKEN_IMAGE)


@contextmanager
def _truncation_refused():
    """WeasyPrint sets Pillow's process-wide LOAD_TRUNCATED_IMAGES when it is imported (the
    workers import it as they start), which would let a truncated upload decode as a half-grey
    picture. A voucher must decode in full; the sheets only draw the portal's own QR code."""
    before = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        yield
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = before


def _reencode(picture, image_format):
    if image_format == "JPEG" and picture.mode not in ("L", "RGB", "CMYK"):
        picture = picture.convert("RGB")
    elif image_format == "PNG" and ("transparency" in picture.info or picture.mode not in _PNG_MODES):
        picture = picture.convert("RGBA")  # a tRNS colour key becomes an alpha channel
    # Only pixels travel on: Pillow writes some info entries (comment, ICC profile) back.
    picture.info = {}
    out = io.BytesIO()
    picture.save(out, image_format, **({"quality": 90} if image_format == "JPEG" else {}))
    return out.getvalue()


def _upright(image):
    """The image turned as its EXIF orientation says (a copy only then: a 40-megapixel picture
    is 120 MB); a broken EXIF block keeps it as it is."""
    try:
        if image.getexif().get(ExifTags.Base.Orientation, 1) in range(2, 9):
            return ImageOps.exif_transpose(image)
    except Exception:  # noqa: BLE001 - orientation is a nicety, the pixels decoded fine
        pass
    return image


# ---- PDFs ------------------------------------------------------------------------------------

#: wall-clock seconds a PDF's inspection may take, in its own process (see pdf_inspect.py)
PDF_CHECK_SECONDS = 10
_PDF_INSPECTOR = Path(__file__).with_name("pdf_inspect.py")
_PDF_VERDICTS = {"active": ACTIVE_PDF, "embedded": EMBEDDED_PDF, "encrypted": ENCRYPTED_PDF,
                 "long": LONG_PDF, "broken": BROKEN_PDF}


def check_pdf(content):
    """Refuse a PDF that cannot be read, is encrypted, is too long or too complex to check in
    PDF_CHECK_SECONDS, or holds anything a viewer runs, launches, submits or unpacks."""
    try:
        done = subprocess.run([sys.executable, "-I", str(_PDF_INSPECTOR)], input=content,
                              capture_output=True, timeout=PDF_CHECK_SECONDS, check=False)
    except subprocess.TimeoutExpired:
        _refuse(COMPLEX_PDF)
    verdict = done.stdout.decode("ascii", "replace").strip()
    if verdict == "ok":
        return
    # No verdict: the child ran out of memory or CPU, or crashed.
    _refuse(_PDF_VERDICTS.get(verdict, COMPLEX_PDF))
