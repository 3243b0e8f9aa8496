"""Blind indexes of personal data (个人信息保护): how encrypted numbers and names are found.

Mobile numbers and contact names are stored SM4-encrypted (dbtypes.EncryptedText), which the
database cannot compare. Beside each sits its keyed SM3 hash (crypto.keyed_sm3): equal values
have equal hashes under one key, so lookups and uniqueness work on the hash, and without the key
the hash tells nothing of the number. A rotation (`flask rotate-keys`) rehashes under the new
key; until it has run, lookups try every configured key.
"""
import unicodedata

from portal import crypto

PHONE_PURPOSE = "mobile"
NAME_PURPOSE = "contact-name"


def normal_name(name):
    """A name as it is compared: NFKC, no surrounding or inner blanks (张 三 is 张三)."""
    return "".join(unicodedata.normalize("NFKC", name or "").split())


def phone_key(phone):
    """The blind index of a normalised mobile number under the current key."""
    return crypto.keyed_sm3(phone, PHONE_PURPOSE)


def phone_keys(phone):
    """The number's blind index under every configured key, for lookups."""
    return crypto.keyed_sm3_all(phone, PHONE_PURPOSE)


def name_key(name):
    return crypto.keyed_sm3(normal_name(name), NAME_PURPOSE)


def name_keys(name):
    return crypto.keyed_sm3_all(normal_name(name), NAME_PURPOSE)


def mask_name(name):
    """A name as a record that outlives it shows it: 张*, 张*明, 欧阳**."""
    name = (name or "").strip()
    if len(name) <= 1:
        return name
    if len(name) == 2:
        return name[0] + "*"
    if len(name) == 3:
        return name[0] + "*" + name[-1]
    return name[:2] + "*" * (len(name) - 2)
