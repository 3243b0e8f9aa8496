"""SM4-GCM tokens and keyed SM3 hashes (portal/crypto.py), and the DATA_KEYS setting."""
import base64

import pytest

from portal import crypto
from portal.config import ConfigurationError, load_settings

OLD = "k2025:0f1e2d3c4b5a69788796a5b4c3d2e1f0"
NEW = "k2026:00ff11ee22dd33cc44bb55aa66997788"


def test_round_trip_keeps_chinese_text_and_names_the_key():
    token = crypto.encrypt("李晓明 13912345678", keys=NEW)
    assert token.startswith("sm4gcm.k2026.")
    assert "李晓明" not in token and "13912345678" not in token
    assert crypto.decrypt(token, keys=NEW) == "李晓明 13912345678"
    # A fresh nonce each time: equal texts do not give equal tokens.
    assert crypto.encrypt("13912345678", keys=NEW) != crypto.encrypt("13912345678", keys=NEW)


def test_the_sm4_cipher_is_the_national_standard_one():
    # GB/T 32907-2016 appendix A: key = plaintext = 0123456789abcdeffedcba9876543210.
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    block = bytes.fromhex("0123456789abcdeffedcba9876543210")
    encryptor = Cipher(algorithms.SM4(block), modes.ECB()).encryptor()
    assert (encryptor.update(block) + encryptor.finalize()).hex() == "681edf34d206965e86b3e94f536e4246"


def test_a_wrong_key_is_refused():
    token = crypto.encrypt("13912345678", keys=NEW)
    same_id_other_key = "k2026:" + "ab" * 16
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(token, keys=same_id_other_key)
    with pytest.raises(crypto.DecryptionError, match="no key"):
        crypto.decrypt(token, keys=OLD)


def test_a_tampered_token_is_refused():
    token = crypto.encrypt("13912345678", keys=NEW)
    scheme, key_id, blob = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(blob + "=" * (-len(blob) % 4)))
    for position in (0, 13, len(raw) - 1):  # the nonce, the text, the tag
        changed = bytearray(raw)
        changed[position] ^= 0x01
        forged = f"{scheme}.{key_id}." + base64.urlsafe_b64encode(bytes(changed)).decode().rstrip("=")
        with pytest.raises(crypto.DecryptionError):
            crypto.decrypt(forged, keys=NEW)
    for broken in ("", "plain text", "sm4gcm.k2026", "sm4gcm.k2026.!!!", "sm4gcm.k2026.AAAA", None):
        with pytest.raises(crypto.DecryptionError):
            crypto.decrypt(broken, keys=NEW)


def test_a_token_is_bound_to_its_context():
    token = crypto.encrypt("13912345678", context="account.phone", keys=NEW)
    assert crypto.decrypt(token, context="account.phone", keys=NEW) == "13912345678"
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(token, context="unit.contact", keys=NEW)


def test_rotation_by_key_id():
    old_token = crypto.encrypt("广州市天河区", keys=OLD)
    ring = f"{NEW},{OLD}"  # a new key put first; the old one kept to read old tokens
    assert crypto.decrypt(old_token, keys=ring) == "广州市天河区"
    assert crypto.needs_rotation(old_token, keys=ring)
    rotated = crypto.reencrypt(old_token, keys=ring)
    assert crypto.key_id_of(rotated) == "k2026" and not crypto.needs_rotation(rotated, keys=ring)
    assert crypto.reencrypt(rotated, keys=ring) == rotated
    # Once the old key is dropped, only the rotated token still opens.
    assert crypto.decrypt(rotated, keys=NEW) == "广州市天河区"
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(old_token, keys=NEW)


def test_keyed_sm3_depends_on_key_and_purpose():
    digest = crypto.keyed_sm3("13912345678", "phone", keys=NEW)
    assert len(digest) == 64 and digest == crypto.keyed_sm3("13912345678", "phone", keys=NEW)
    assert digest != crypto.keyed_sm3("13912345678", "recovery_code", keys=NEW)
    assert digest != crypto.keyed_sm3("13912345678", "phone", keys=OLD)
    assert crypto.keyed_sm3_all("13912345678", "phone", keys=f"{NEW},{OLD}") == [
        digest, crypto.keyed_sm3("13912345678", "phone", keys=OLD)]


def test_the_app_uses_the_keys_of_its_settings(app_factory):
    app = app_factory(DATA_KEYS=NEW)
    with app.app_context():
        token = crypto.encrypt("13912345678")
        assert crypto.key_id_of(token) == "k2026"
        assert crypto.decrypt(token) == crypto.decrypt(token, keys=NEW) == "13912345678"


@pytest.mark.parametrize("value", ["", "k1", "k1:abcd", "k1:" + "zz" * 16, "k 1:" + "00" * 16,
                                   f"{NEW},{NEW}"])
def test_unreadable_keys_stop_the_start(value):
    with pytest.raises(ConfigurationError):
        load_settings({"DATA_KEYS": value})


def test_production_refuses_to_start_without_its_own_keys(monkeypatch):
    monkeypatch.setenv("PORTAL_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "s" * 40)
    monkeypatch.setenv("AUDIT_HMAC_KEY", "a" * 40)  # the audit chain's own production key
    monkeypatch.setenv("SMS_BACKEND", "http")  # a real gateway, its https address, one worker without Redis
    monkeypatch.setenv("SMS_HTTP_URL", "https://sms.example/send")
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://portal.example.gov.cn")
    monkeypatch.setenv("WEB_CONCURRENCY", "1")
    monkeypatch.delenv("DATA_KEYS", raising=False)
    with pytest.raises(ConfigurationError, match="DATA_KEYS"):
        load_settings()
    monkeypatch.setenv("DATA_KEYS", f"{NEW},{crypto.DEVELOPMENT_DATA_KEYS}")
    with pytest.raises(ConfigurationError, match="DATA_KEYS"):
        load_settings()
    monkeypatch.setenv("DATA_KEYS", f"{NEW},{OLD}")
    assert load_settings()["DATA_KEYS"] == f"{NEW},{OLD}"
