"""商用密码 for data at rest: SM4-GCM encryption and keyed SM3 hashes, with keys from settings.

Keys live in the `DATA_KEYS` setting, never in the database: comma-separated `keyid:hex` pairs of
16-byte SM4 keys, the first being the one new tokens use. A token names the key that made it, so
after a new key is put first the older ones still decrypt, and `reencrypt` moves a token to the
current key (the rotation command walks the columns with it).

Token: `sm4gcm.<keyid>.<base64url(nonce | ciphertext | tag)>`. GCM authenticates the key id, the
optional context (say the column a value belongs to) and the text, so a changed byte, a token
moved to another column or a wrong key is refused, never decrypted to garbage.
"""
import base64
import hmac
import os
import re
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

SCHEME = "sm4gcm"
NONCE_BYTES = 12
TAG_BYTES = 16
KEY_ID = re.compile(r"[A-Za-z0-9_-]{1,16}")

#: Keys a development install runs with; production refuses to start with them (config.py).
DEVELOPMENT_DATA_KEYS = "dev1:00112233445566778899aabbccddeeff"


class KeyConfigurationError(ValueError):
    """DATA_KEYS cannot be read."""


class DecryptionError(ValueError):
    """A token that is malformed, made with an unknown key, or changed since it was made."""


@lru_cache(maxsize=8)
def parse_keys(text):
    """`keyid:hex32,...` → {keyid: 16-byte key}, in the given order (the first is current)."""
    keys = {}
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        key_id, sep, hex_key = part.partition(":")
        key_id, hex_key = key_id.strip(), hex_key.strip()
        if not sep or not KEY_ID.fullmatch(key_id):
            raise KeyConfigurationError(f"DATA_KEYS: {key_id!r} is not a key id (letters, digits, _ or -, 1-16)")
        if key_id in keys:
            raise KeyConfigurationError(f"DATA_KEYS: key id {key_id!r} appears twice")
        try:
            key = bytes.fromhex(hex_key)
        except ValueError:
            key = b""
        if len(key) != 16:
            raise KeyConfigurationError(f"DATA_KEYS: key {key_id!r} must be 32 hex digits (an SM4 key is 16 bytes)")
        keys[key_id] = key
    if not keys:
        raise KeyConfigurationError("DATA_KEYS holds no key")
    return keys


def _keys(keys=None):
    if keys is not None:
        return parse_keys(keys) if isinstance(keys, str) else keys
    from flask import current_app

    return parse_keys(current_app.config["DATA_KEYS"])


def current_key_id(keys=None):
    return next(iter(_keys(keys)))


def _aad(key_id, context):
    return f"{SCHEME}|{key_id}|{context}".encode()


def encrypt(text, *, context="", keys=None):
    """Encrypt text under the current key; the token names that key."""
    key_ring = _keys(keys)
    key_id = next(iter(key_ring))
    nonce = os.urandom(NONCE_BYTES)
    encryptor = Cipher(algorithms.SM4(key_ring[key_id]), modes.GCM(nonce)).encryptor()
    encryptor.authenticate_additional_data(_aad(key_id, context))
    body = encryptor.update(text.encode("utf-8")) + encryptor.finalize()
    blob = base64.urlsafe_b64encode(nonce + body + encryptor.tag).decode().rstrip("=")
    return f"{SCHEME}.{key_id}.{blob}"


def key_id_of(token):
    return _split(token)[1]


def _split(token):
    parts = token.split(".") if isinstance(token, str) else []
    if len(parts) != 3 or parts[0] != SCHEME or not KEY_ID.fullmatch(parts[1]):
        raise DecryptionError("not an SM4 token")
    return parts


def decrypt(token, *, context="", keys=None):
    """The text of a token, or DecryptionError if it cannot be trusted."""
    _, key_id, blob = _split(token)
    key = _keys(keys).get(key_id)
    if key is None:
        raise DecryptionError(f"no key {key_id!r} in DATA_KEYS")
    try:
        raw = base64.urlsafe_b64decode(blob + "=" * (-len(blob) % 4))
    except ValueError as error:
        raise DecryptionError("token is not base64") from error
    if len(raw) < NONCE_BYTES + TAG_BYTES:
        raise DecryptionError("token too short")
    nonce, body, tag = raw[:NONCE_BYTES], raw[NONCE_BYTES:-TAG_BYTES], raw[-TAG_BYTES:]
    decryptor = Cipher(algorithms.SM4(key), modes.GCM(nonce, tag)).decryptor()
    decryptor.authenticate_additional_data(_aad(key_id, context))
    try:
        plain = decryptor.update(body) + decryptor.finalize()
    except InvalidTag as error:
        raise DecryptionError("token changed or made with another key") from error
    return plain.decode("utf-8")


def needs_rotation(token, *, keys=None):
    return key_id_of(token) != current_key_id(keys)


def reencrypt(token, *, context="", keys=None):
    """The same text under the current key (the token itself when it already is)."""
    if not needs_rotation(token, keys=keys):
        return token
    return encrypt(decrypt(token, context=context, keys=keys), context=context, keys=keys)


def _mac_key(key):
    # A key of its own for hashing, derived from the SM4 key: one key, one use.
    return hmac.new(key, b"portal keyed-sm3 v1", "sm3").digest()


def keyed_sm3(value, purpose, *, key_id=None, keys=None):
    """HMAC-SM3 of a value for one purpose (a blind index, a hashed recovery code), as hex.

    The purpose is part of the message, so the same value hashed for two purposes differs.
    Hashes are made with the current key; `keyed_sm3_all` gives every key's, to find values
    hashed before a rotation.
    """
    key_ring = _keys(keys)
    key = key_ring[key_id or next(iter(key_ring))]
    message = purpose.encode("utf-8") + b"\x00" + value.encode("utf-8")
    return hmac.new(_mac_key(key), message, "sm3").hexdigest()


def keyed_sm3_all(value, purpose, *, keys=None):
    """The value's hash under every configured key, the current one first."""
    key_ring = _keys(keys)
    return [keyed_sm3(value, purpose, key_id=key_id, keys=key_ring) for key_id in key_ring]
