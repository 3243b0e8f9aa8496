"""SMS backends: the outbox file a local install reads, and the HTTP gateway of production."""
import json
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from portal.accounts.sms import HttpBackend, OutboxBackend, SmsDeliveryError, outbox_path, send_sms


@contextmanager
def gateway(status=200):
    """A local SMS gateway on 127.0.0.1 answering `status`; yields (url, received requests)."""
    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length", 0))
            received.append({"path": self.path, "headers": dict(self.headers),
                             "body": self.rfile.read(length)})
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.timeout = 5
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/sms/send", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_outbox_writes_one_json_line_per_message(tmp_path):
    path = tmp_path / "instance" / "sms_outbox.jsonl"
    backend = OutboxBackend(path)
    backend.send("13800138000", "【消费帮扶门户】您的登录验证码为123456，5分钟内有效。", "login_code")
    backend.send("13900139000", "您有一条记录被退回", "notice")

    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["to"] == "13800138000"
    assert first["kind"] == "login_code"
    assert first["text"] == "【消费帮扶门户】您的登录验证码为123456，5分钟内有效。"
    assert first["at"].endswith("Z")
    assert (second["to"], second["kind"], second["text"]) == ("13900139000", "notice", "您有一条记录被退回")
    # Readable Chinese in the file, not \u escapes.
    assert "您有一条记录被退回" in lines[1]


def test_send_sms_uses_the_configured_outbox_and_signs_the_message(app):
    with app.app_context():
        send_sms("13800138000", "测试消息", "notice")
    rows = [json.loads(line) for line in outbox_path(app.config).read_text(encoding="utf-8").splitlines()]
    assert rows[-1]["to"] == "13800138000"
    assert rows[-1]["text"] == app.config["SMS_SIGNATURE"] + "测试消息"


def test_http_backend_posts_json_to_the_gateway():
    with gateway(200) as (url, received):
        HttpBackend(url, "secret-token", timeout=5).send("13800138000", "验证码为654321", "login_code", "m-1")
    assert len(received) == 1
    request = received[0]
    assert request["path"] == "/sms/send"
    assert request["headers"]["Content-Type"].startswith("application/json")
    assert request["headers"]["Authorization"] == "Bearer secret-token"
    assert json.loads(request["body"].decode("utf-8")) == {
        "phone": "13800138000", "text": "验证码为654321", "kind": "login_code", "id": "m-1"}


def test_http_backend_without_token_sends_no_authorization():
    with gateway(200) as (url, received):
        HttpBackend(url, "", timeout=5).send("13800138000", "x", "notice")
    assert "Authorization" not in received[0]["headers"]


def test_http_backend_raises_on_gateway_error():
    with gateway(500) as (url, received):
        with pytest.raises(SmsDeliveryError):
            HttpBackend(url, "t", timeout=5).send("13800138000", "验证码为654321", "login_code")
    assert len(received) == 1


def test_http_backend_raises_when_gateway_unreachable():
    with gateway(200) as (url, _):
        pass  # the server is closed again: nothing listens on the port now
    with pytest.raises(SmsDeliveryError):
        HttpBackend(url, "t", timeout=2).send("13800138000", "x", "notice")


def test_send_sms_through_configured_http_gateway(app_factory):
    with gateway(200) as (url, received):
        app = app_factory(SMS_BACKEND="http", SMS_HTTP_URL=url, SMS_HTTP_TOKEN="tok")
        with app.app_context():
            send_sms("13800138000", "您有一条记录待审核", "notice")
    body = json.loads(received[0]["body"].decode("utf-8"))
    assert body["phone"] == "13800138000"
    assert body["text"] == app.config["SMS_SIGNATURE"] + "您有一条记录待审核"
