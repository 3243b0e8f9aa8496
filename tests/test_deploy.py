"""The deployment files (deploy/): the nginx site checked by Debian's nginx (`nginx -t`, then
served in front of a stand-in app), the systemd units by `systemd-analyze verify`, and the
environment example against the settings the code reads.

nginx and openssl come from scripts/system-deps.sh: without them the nginx tests are skipped,
except on CI (CI=true), where a missing tool is a failure. systemd is the production machine's,
not a test dependency: without systemd-analyze, or where it cannot run, those checks are skipped."""
import ast
import os
import re
import runpy
import shutil
import socket
import ssl
import subprocess
import threading
import time
from http.client import HTTPConnection, HTTPSConnection
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from portal.config import ConfigurationError, load_settings
from portal.security_headers import HEADERS, HSTS

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
SITE = DEPLOY / "nginx" / "portal.conf"
ENV_EXAMPLE = DEPLOY / "portal.env.example"
UNITS = sorted(DEPLOY.glob("portal-*.service")) + sorted(DEPLOY.glob("portal-*.timer"))
HOST = "portal.example.gov.cn"
CERTIFICATE, CERTIFICATE_KEY = "/etc/ssl/portal/fullchain.pem", "/etc/ssl/portal/privkey.pem"


def _on_ci():
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def system_tool(name, package):
    path = shutil.which(name) or next((p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if os.path.exists(p)),
                                      None)
    if path is None:
        reason = f"{name} is missing (Debian package {package}, scripts/system-deps.sh): deployment check skipped"
        if _on_ci():
            pytest.fail(reason + "; CI is set, so this is a failure", pytrace=False)
        pytest.skip(reason)
    return path


def free_port(family=socket.AF_INET, host="127.0.0.1"):
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def ipv6_loopback():
    try:
        free_port(socket.AF_INET6, "::1")
        return True
    except OSError:
        return False


# --- nginx ------------------------------------------------------------------------------------------

class StandIn(BaseHTTPRequestHandler):
    """The app's place behind nginx: records what it was sent, answers with one header of its own."""
    seen = []

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        StandIn.seen.append((self.command, self.path, dict(self.headers)))
        self.send_response(200)
        self.send_header("Content-Security-Policy", "default-src 'self'")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    do_GET = do_POST = _answer

    def log_message(self, *args):
        pass


@pytest.fixture
def site(tmp_path):
    """The site file with its placeholders made real in tmp_path: a self-signed certificate, free
    ports instead of 80 and 443 (`nginx -t` binds them), the repository's static folder, and the
    stand-in's port as the upstream. Returns the paths, ports and the nginx.conf around it."""
    openssl = system_tool("openssl", "openssl")
    text = SITE.read_text(encoding="utf-8")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", f"/CN={HOST}",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    http_port, https_port, upstream_port = free_port(), free_port(), free_port()
    with_ipv6 = ipv6_loopback()
    replacements = {CERTIFICATE: str(cert), CERTIFICATE_KEY: str(key), "server 127.0.0.1:8000;":
                    f"server 127.0.0.1:{upstream_port};", "alias /opt/portal/portal/static/;":
                    f"alias {ROOT / 'portal' / 'static'}/;"}
    for placeholder, value in replacements.items():
        assert text.count(placeholder) == 1, f"{placeholder} is not once in {SITE.name}"
        text = text.replace(placeholder, value)

    def listen(match):
        port = https_port if match["port"] == "443" else http_port
        if match["v6"]:
            return f"listen [::1]:{port}" if with_ipv6 else "# listen [::1] (no IPv6 here)"
        return f"listen 127.0.0.1:{port}"
    text, count = re.subn(r"listen (?P<v6>\[::\]:)?(?P<port>80|443)\b", listen, text)
    assert count == 4, "the site listens on 80 and 443, IPv4 and IPv6"
    (tmp_path / "site.conf").write_text(text, encoding="utf-8")
    temp_paths = "\n".join(f"    {kind}_temp_path {tmp_path / kind};" for kind in
                           ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    conf = tmp_path / "nginx.conf"
    conf.write_text(f"daemon off;\nmaster_process off;\npid {tmp_path / 'nginx.pid'};\n"
                    f"error_log {tmp_path / 'error.log'};\nevents {{}}\nhttp {{\n    access_log off;\n"
                    f"    include /etc/nginx/mime.types;\n{temp_paths}\n    include {tmp_path / 'site.conf'};\n}}\n",
                    encoding="utf-8")
    nginx = system_tool("nginx", "nginx")
    command = [nginx, "-p", str(tmp_path), "-c", str(conf), "-e", str(tmp_path / "error.log")]
    return dict(command=command, http=http_port, https=https_port, upstream=upstream_port)


def test_nginx_accepts_the_site(site):
    checked = subprocess.run([*site["command"], "-t"], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    assert "test is successful" in checked.stderr


@pytest.fixture
def served(site):
    """nginx running the site in front of the stand-in app."""
    upstream = ThreadingHTTPServer(("127.0.0.1", site["upstream"]), StandIn)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    StandIn.seen = []
    process = subprocess.Popen(site["command"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", site["https"]), timeout=1).close()
                break
            except OSError:
                assert process.poll() is None, process.stdout.read().decode()
                assert time.monotonic() < deadline, "nginx did not listen within 10 s"
                time.sleep(0.05)
        yield site
    finally:
        process.terminate()
        process.wait(timeout=10)
        upstream.shutdown()
        upstream.server_close()


def https(served):
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE  # the test's self-signed certificate
    return HTTPSConnection("127.0.0.1", served["https"], timeout=10, context=context)


def test_plain_http_is_sent_to_https(served):
    connection = HTTPConnection("127.0.0.1", served["http"], timeout=10)
    connection.request("GET", "/records?page=2", headers={"Host": HOST})
    response = connection.getresponse()
    assert response.status == 301
    assert response.getheader("Location") == f"https://{HOST}/records?page=2"
    assert StandIn.seen == []


def test_the_app_learns_the_client_address_and_scheme(served):
    connection = https(served)
    connection.request("GET", "/login", headers={"Host": HOST, "X-Forwarded-For": "203.0.113.9"})
    assert connection.getresponse().status == 200
    (method, path, headers), = StandIn.seen
    assert (method, path, headers["Host"]) == ("GET", "/login", HOST)
    # the client's claim kept first, nginx's peer last: ProxyFix (TRUSTED_PROXIES=1) takes the last
    assert headers["X-Forwarded-For"] == "203.0.113.9, 127.0.0.1"
    assert headers["X-Forwarded-Proto"] == "https"
    assert headers["X-Forwarded-Host"] == HOST


def test_the_apps_answers_get_no_second_security_header(served):
    connection = https(served)
    connection.request("GET", "/", headers={"Host": HOST})
    response = connection.getresponse()
    response.read()
    assert response.headers.get_all("Content-Security-Policy") == ["default-src 'self'"]
    for name in [*HEADERS, "Strict-Transport-Security"]:
        if name != "Content-Security-Policy":
            assert response.getheader(name) is None, f"nginx adds {name} to the app's answers"


def test_static_files_are_served_with_the_apps_security_headers(served):
    connection = https(served)
    connection.request("GET", "/static/portal.css", headers={"Host": HOST})
    response = connection.getresponse()
    assert response.status == 200
    assert response.read() == (ROOT / "portal" / "static" / "portal.css").read_bytes()
    assert response.getheader("Content-Type").startswith("text/css")
    for name, value in {**HEADERS, "Strict-Transport-Security": HSTS}.items():
        assert response.headers.get_all(name) == [value], name
    assert StandIn.seen == []


def test_the_body_limit_is_the_apps(served, monkeypatch):
    monkeypatch.delenv("VOUCHER_MAX_MB", raising=False)
    limit = load_settings()["MAX_CONTENT_LENGTH"]  # VOUCHER_MAX_MB's default, plus the form
    for size, status in ((limit + 1, 413), (limit, 200)):
        connection = https(served)
        connection.putrequest("POST", "/records/1/vouchers", skip_host=True)
        connection.putheader("Host", HOST)
        connection.putheader("Content-Length", str(size))
        connection.endheaders()
        if status == 200:
            for _ in range(size // (1 << 20)):
                connection.send(b"x" * (1 << 20))
            connection.send(b"x" * (size % (1 << 20)))
        try:
            assert connection.getresponse().status == status, size
        except TimeoutError:
            pytest.fail(f"nginx waited for a body of {size} bytes: its client_max_body_size is not the app's "
                        f"MAX_CONTENT_LENGTH ({limit})")
    assert [path for _, path, _ in StandIn.seen] == ["/records/1/vouchers"]


# --- systemd ----------------------------------------------------------------------------------------

def unit_lines(path):
    """(section, key, value) of a unit file; keys may repeat (ExecStart of a oneshot)."""
    section, lines = None, []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
        else:
            key, _, value = line.partition("=")
            lines.append((section, key.strip(), value.strip()))
    return lines


def values(path, key):
    return [value for _, name, value in unit_lines(path) if name == key]


def test_the_units_run_the_portal_as_its_user_with_its_settings(tmp_path):
    names = {unit.name for unit in UNITS}
    assert {"portal-web.service", "portal-worker.service", "portal-backup.service", "portal-backup.timer"} <= names
    for unit in UNITS:
        if unit.suffix == ".timer":
            assert unit.with_suffix(".service").name in names, f"{unit.name} starts nothing"
            continue
        assert values(unit, "User") == ["portal"], unit.name
        assert values(unit, "EnvironmentFile") == ["/etc/portal/portal.env"], unit.name
        assert values(unit, "WorkingDirectory") == ["/opt/portal"], unit.name
        for command in values(unit, "ExecStart"):
            assert command.startswith("/opt/portal/.venv/bin/"), f"{unit.name}: {command} is not the virtualenv's"
    assert values(DEPLOY / "portal-web.service", "ExecStart") == ["/opt/portal/.venv/bin/gunicorn app:app"]
    assert (ROOT / "gunicorn.conf.py").exists()  # what gunicorn reads from the working directory
    # every kind of job has a worker, and the quick ones people wait on never queue behind long ones
    from portal import create_app
    from portal.jobs.queue import HANDLERS

    create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "PORTAL_INSTANCE": str(tmp_path)})  # registers them all

    quick, = values(DEPLOY / "portal-worker.service", "ExecStart")
    bulk, = values(DEPLOY / "portal-worker-bulk.service", "ExecStart")
    kinds = [set(command.split("--kinds ")[1].split(",")) for command in (quick, bulk)]
    assert kinds[0] == {"sms", "sheet"} and not kinds[0] & kinds[1] and kinds[0] | kinds[1] == set(HANDLERS)
    backup, = values(DEPLOY / "portal-backup.service", "ExecStart")
    assert re.fullmatch(r"/opt/portal/\.venv/bin/flask --app app backup --to /var/backups/portal --keep \d+", backup)


def test_the_flask_commands_of_the_units_exist(tmp_path):
    from portal import create_app

    named = {re.match(r"/opt/portal/\.venv/bin/flask --app app ([\w-]+)", command)[1]
             for unit in UNITS for command in values(unit, "ExecStart") if " --app app " in command}
    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "PORTAL_INSTANCE": str(tmp_path)})
    missing = named - set(app.cli.list_commands(None))
    assert not missing, f"the units run flask commands the app does not have: {sorted(missing)}"
    assert {"worker", "backup", "purge-expired", "disable-dormant", "audit-verify"} <= named


def systemd_analyze(tmp_path):
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is missing (Debian package systemd): unit files not verified")
    probe = tmp_path / "probe" / "probe.service"
    probe.parent.mkdir()
    probe.write_text("[Service]\nType=oneshot\nExecStart=/bin/true\n", encoding="utf-8")
    ran = subprocess.run([tool, "verify", str(probe)], capture_output=True, text=True, cwd=probe.parent)
    if ran.returncode or ran.stdout.strip() or ran.stderr.strip():
        pytest.skip(f"systemd-analyze verify cannot run here: {(ran.stderr or ran.stdout).strip()[:300]}")
    return tool


def test_systemd_accepts_the_units(tmp_path):
    """Copies whose /opt/portal/.venv/bin/ commands are stubs in tmp_path, since verify checks that
    each command is executable; any message (unknown key, bad value) is a failure."""
    tool = systemd_analyze(tmp_path)
    venv = tmp_path / "opt" / "portal" / ".venv" / "bin"
    venv.mkdir(parents=True)
    for name in ("gunicorn", "flask"):
        (venv / name).write_text("#!/bin/sh\n")
        (venv / name).chmod(0o755)
    units = tmp_path / "units"
    units.mkdir()
    for unit in UNITS:
        text = unit.read_text(encoding="utf-8").replace("/opt/portal/.venv/bin/", f"{venv}/")
        (units / unit.name).write_text(text, encoding="utf-8")
    ran = subprocess.run([tool, "verify", *(unit.name for unit in UNITS)], capture_output=True, text=True,
                         cwd=units)
    assert ran.returncode == 0 and not ran.stdout.strip() and not ran.stderr.strip(), ran.stdout + ran.stderr


# --- the environment file ---------------------------------------------------------------------------

def environment_names(path):
    """Every variable name the module reads: os.environ.get / os.environ[...] / os.getenv /
    config.py's _int, by their literal first argument."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = ast.unparse(node.func)
            if func in ("os.environ.get", "os.getenv", "_int", "os.environ.setdefault"):
                names.add(node.args[0].value)
        elif isinstance(node, ast.Subscript) and ast.unparse(node.value) == "os.environ":
            if isinstance(node.slice, ast.Constant):
                names.add(node.slice.value)
    return names


def example_lines():
    """NAME -> (value, commented out) for each setting line of the example."""
    found = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        match = re.fullmatch(r"(#)?([A-Z][A-Z0-9_]*)=(.*)", line)
        if match:
            assert match[2] not in found, f"{match[2]} is twice in {ENV_EXAMPLE.name}"
            found[match[2]] = (match[3], bool(match[1]))
    return found


def test_the_example_lists_every_setting_the_code_reads():
    read = environment_names(ROOT / "portal" / "config.py")
    assert {"SECRET_KEY", "DATABASE_URL", "VOUCHER_MAX_MB", "PORTAL_INSTANCE", "WEB_CONCURRENCY"} <= read
    served = environment_names(ROOT / "gunicorn.conf.py")
    listed = set(example_lines())
    assert not read - listed, f"settings of portal/config.py without a line in {ENV_EXAMPLE.name}: {sorted(read - listed)}"
    assert not served - listed, f"gunicorn.conf.py's settings without a line: {sorted(served - listed)}"
    assert not listed - read - served, f"lines nothing reads: {sorted(listed - read - served)}"


def test_systemd_and_the_shell_read_the_example_alike(tmp_path):
    """portal-flask sources the file in sh; systemd takes the rest of the line, without quotes."""
    live = tmp_path / "live.env"
    lines = [line[1:] if re.match(r"#[A-Z][A-Z0-9_]*=", line) else line
             for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()]
    live.write_text("\n".join(lines) + "\n", encoding="utf-8")
    shell = subprocess.run(["sh", "-c", 'set -a; . "$1"; exec env -0', "sh", str(live)], capture_output=True,
                           check=True, env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")}).stdout
    sourced = dict(item.split("=", 1) for item in shell.decode("utf-8").split("\0") if "=" in item)
    for name, (value, _) in example_lines().items():
        assert not re.search(r"[$`\\]", value), f"{name}: $, ` and \\ mean different things to sh and systemd"
        unquoted = value[1:-1] if len(value) > 1 and value[0] == value[-1] == '"' else value
        assert sourced.get(name) == unquoted, name


def test_the_example_filled_in_passes_the_production_checks(monkeypatch, tmp_path):
    example = {name: value.strip('"') for name, (value, commented) in example_lines().items() if not commented}
    assert example["PORTAL_ENV"] == "production"
    for name in list(os.environ):
        if name in example_lines():
            monkeypatch.delenv(name)
    for name, value in example.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PORTAL_INSTANCE", str(tmp_path / "instance"))
    with pytest.raises(ConfigurationError, match="SECRET_KEY"):
        load_settings()  # the keys are left for the operator to generate
    monkeypatch.setenv("SECRET_KEY", "3f" * 32)
    monkeypatch.setenv("DATA_KEYS", "k1:" + "5a" * 16)
    monkeypatch.setenv("AUDIT_HMAC_KEY", "9c" * 32)
    settings = load_settings()
    assert settings["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://portal@/portal"
    assert settings["RATELIMIT_STORAGE_URI"] == example["REDIS_URL"]
    assert settings["TRUSTED_PROXIES"] == 1


def test_gunicorn_and_the_app_count_the_same_workers(monkeypatch):
    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    settings = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    assert settings["workers"] == load_settings()["WEB_CONCURRENCY"]


def test_nginx_closes_idle_upstream_connections_before_gunicorn_does():
    """The other way round, a request nginx sends down a connection gunicorn is closing gets no
    answer, and nginx does not retry a POST: the person sees 502."""
    settings = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    upstream = re.search(r"upstream portal_app \{(.*?)\}", (DEPLOY / "nginx" / "portal.conf").read_text(), re.S).group(1)
    nginx_seconds = int(re.search(r"keepalive_timeout (\d+)s;", upstream).group(1))
    assert re.search(r"^\s*keepalive \d+;", upstream, re.M), "nginx keeps no connection to gunicorn"
    assert settings["keepalive"] > nginx_seconds
