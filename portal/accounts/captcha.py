"""The graphic captcha (图形验证码) asked before an SMS code is sent.

The session cookie is signed, not encrypted, so it never holds the answer: only a random
nonce, the issue time and an HMAC of the answer under the secret key. A captcha is checked
once, right or wrong: its nonce is then recorded (CaptchaUse), so a saved copy of the cookie
cannot be replayed, and it lives TTL at most. Nothing here reads the request.
"""
import hashlib
import hmac
import secrets
import unicodedata
from datetime import datetime, timedelta

from captcha.image import ImageCaptcha
from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite

from portal.accounts.models import CaptchaUse
from portal.extensions import db

#: upper-case letters and digits without 0/O/Q, 1/I/L, 2/Z, 5/S, 8/B and U/V: pairs a warped
#: glyph blurs (answers are compared case-insensitively)
ALPHABET = "ACDEFGHJKMNPRTWXY34679"
LENGTH = 4
TTL = timedelta(minutes=5)
SESSION_KEY = "captcha"
WRONG = "图形验证码错误，请重新输入"
#: longer than any answer typed with spaces: not read at all
TYPED_MAX = 16
_EPOCH = datetime(1970, 1, 1)


def random_text():
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def _answer(typed):
    """An answer as typed, in the form it is compared: NFKC (full-width letters from a Chinese
    input method), no spaces, upper case."""
    if not isinstance(typed, str) or len(typed) > TYPED_MAX:
        return ""
    return "".join(unicodedata.normalize("NFKC", typed).split()).upper()


def _mac(secret_key, nonce, issued, answer):
    message = f"captcha:{nonce}:{issued}:{answer}".encode()
    return hmac.new(secret_key.encode(), message, hashlib.sha256).hexdigest()


def issue(secret_key, text, now):
    """The session's record of a new captcha showing `text`."""
    nonce = secrets.token_hex(16)
    issued = int((now - _EPOCH).total_seconds())
    return {"n": nonce, "t": issued, "h": _mac(secret_key, nonce, issued, _answer(text))}


def render_png(text):
    # Dark glyphs on white (the library's random light colours can fade the text into the noise).
    ink = (secrets.randbelow(90), secrets.randbelow(90), 90 + secrets.randbelow(90))
    image = ImageCaptcha(width=160, height=60).generate(text, format="png", bg_color=(255, 255, 255),
                                                      fg_color=ink)
    return image.getvalue()


def _record_use(nonce, now):
    """Record the nonce as checked; False if it was checked before (a replayed cookie)."""
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    db.session.execute(delete(CaptchaUse).where(CaptchaUse.used_at < now - TTL))
    recorded = db.session.execute(insert(CaptchaUse).values(nonce=nonce, used_at=now)
                                  .on_conflict_do_nothing().returning(CaptchaUse.nonce)).scalar()
    return recorded is not None


def check(secret_key, issued_record, typed, now):
    """Whether `typed` answers the captcha the session recorded. The caller has removed the
    record from the session already, and commits, so that the captcha is used up either way."""
    answer = _answer(typed)
    record = issued_record if isinstance(issued_record, dict) else {}
    nonce, issued, mac = record.get("n"), record.get("t"), record.get("h")
    if not (isinstance(nonce, str) and len(nonce) == 32 and isinstance(issued, int) and isinstance(mac, str)):
        return False
    expected = _mac(secret_key, nonce, issued, answer)
    if not _record_use(nonce, now):
        return False
    age = (now - _EPOCH).total_seconds() - issued
    return bool(answer) and 0 <= age < TTL.total_seconds() and hmac.compare_digest(expected, mac)
