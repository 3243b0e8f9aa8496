"""Per-IP caps on sending codes (Flask-Limiter), in memory and, where REDIS_URL is set, in Redis
shared by every worker."""
import os
import uuid

import pytest

from portal.extensions import db
from tests.conftest import csrf_token

PHONES = ["13700001001", "13700001002", "13700001011", "13700001012"]


def _send_codes(client):
    token = csrf_token(client)
    return [client.post("/login/code", data={"phone": phone, "csrf_token": token}) for phone in PHONES]


def test_the_fourth_send_from_one_address_is_refused_in_chinese(app, app_factory, tree):
    capped = app_factory(SMS_SEND_IP_LIMIT="3 per hour")
    answers = _send_codes(capped.test_client())
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert "操作过于频繁" in answers[-1].get_data(as_text=True)


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="REDIS_URL is not set")
def test_the_cap_is_kept_in_redis_and_shared_by_workers(app, app_factory, tree):
    """Two app instances (two gunicorn workers) share one count through Redis."""
    import redis

    prefix = f"portal-test-{uuid.uuid4().hex[:8]}"
    settings = dict(SMS_SEND_IP_LIMIT="3 per hour", RATELIMIT_STORAGE_URI=os.environ["REDIS_URL"],
                    RATELIMIT_KEY_PREFIX=prefix)
    first, second = app_factory(**settings), app_factory(**settings)
    token_client = first.test_client()
    token = csrf_token(token_client)
    for phone in PHONES[:3]:
        assert token_client.post("/login/code", data={"phone": phone, "csrf_token": token}).status_code == 200
    other = second.test_client()
    other_token = csrf_token(other)
    refused = other.post("/login/code", data={"phone": PHONES[3], "csrf_token": other_token})
    assert refused.status_code == 429
    store = redis.Redis.from_url(os.environ["REDIS_URL"])
    keys = store.keys(f"*{prefix}*")
    assert keys
    store.delete(*keys)
    with first.app_context():
        db.session.remove()
