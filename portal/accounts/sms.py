"""Pluggable SMS backends: the worker sends every message (portal/notifications.py) through one."""
import fcntl
import json
import logging
import urllib.request
from pathlib import Path

from flask import current_app

from portal.clock import utcnow

log = logging.getLogger(__name__)


class SmsDeliveryError(RuntimeError):
    pass


class OutboxBackend:
    """Appends each message as one JSON line to instance/sms_outbox.jsonl (local installs, tests)."""

    def __init__(self, path):
        self.path = Path(path)

    def send(self, phone, text, kind, message_id=None):
        line = json.dumps({"at": utcnow().isoformat(timespec="seconds") + "Z", "to": phone,
                           "kind": kind, "text": text, "id": message_id}, ensure_ascii=False)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as handle:
            # Several gunicorn workers may append at once.
            fcntl.flock(handle, fcntl.LOCK_EX)
            handle.write(line + "\n")
            fcntl.flock(handle, fcntl.LOCK_UN)


class ConsoleBackend:
    """Writes each message to the application log (a developer's terminal)."""

    def send(self, phone, text, kind, message_id=None):
        log.warning("SMS to %s [%s]: %s", phone, kind, text)


class HttpBackend:
    """Posts {"phone", "text", "kind", "id"} as JSON to the operator's SMS gateway; "id" names
    the message, so that the gateway's adapter can drop a repeat (Aliyun's OutId, say)."""

    def __init__(self, url, token, timeout=5):
        self.url, self.token, self.timeout = url, token, timeout

    def send(self, phone, text, kind, message_id=None):
        body = json.dumps({"phone": phone, "text": text, "kind": kind, "id": message_id},
                          ensure_ascii=False).encode()
        req = urllib.request.Request(self.url, data=body, method="POST",
                                     headers={"Content-Type": "application/json; charset=utf-8"})
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as response:
                if response.status >= 300:
                    raise SmsDeliveryError(f"gateway answered {response.status}")
        except OSError as exc:
            raise SmsDeliveryError(str(exc)) from exc


def outbox_path(config):
    return Path(config["PORTAL_INSTANCE"]) / "sms_outbox.jsonl"


def backend_for(config):
    name = config["SMS_BACKEND"]
    if name == "outbox":
        return OutboxBackend(outbox_path(config))
    if name == "console":
        return ConsoleBackend()
    return HttpBackend(config["SMS_HTTP_URL"], config["SMS_HTTP_TOKEN"])


def send_sms(phone, text, kind, message_id=None):
    """Send one message through the configured backend, signed with the portal's name."""
    config = current_app.config
    backend_for(config).send(phone, config["SMS_SIGNATURE"] + text, kind, message_id)
