"""The portal as production runs it, for bench.load: gunicorn with gunicorn.conf.py and the job
worker, PORTAL_ENV=production, an SMS gateway of the bench's own on loopback, people logged in
through the real SMS-code flow, and the CPU and memory of the processes read from /proc.
"""
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
CODE = re.compile(r"验证码为(\d{6})")
CSRF_IN_FORM = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
COOKIE = "portal_session"
#: the captcha answer the bench "reads off the image" (see forged_captcha)
CAPTCHA_TEXT = "AC34"


def new_keys():
    return {"SECRET_KEY": secrets.token_hex(32), "DATA_KEYS": "b1:" + secrets.token_hex(16),
            "AUDIT_HMAC_KEY": secrets.token_hex(32)}


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class SmsGateway:
    """The operator's SMS gateway as the portal's http backend sees it: POST JSON, bearer token.
    It keeps the last login code sent to each number and counts messages by kind."""

    TOKEN = "bench-gateway-token"

    def __init__(self):
        self.codes, self.kinds = {}, {}
        self.arrived = threading.Condition()
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                ok = self.headers.get("Authorization") == f"Bearer {gateway.TOKEN}"
                if ok:
                    gateway.received(body)
                self.send_response(200 if ok else 401)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/send"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def received(self, body):
        with self.arrived:
            self.kinds[body["kind"]] = self.kinds.get(body["kind"], 0) + 1
            found = CODE.search(body["text"])
            if found:
                self.codes[body["phone"]] = found.group(1)
                self.arrived.notify_all()

    def code_for(self, phone, timeout=60):
        with self.arrived:
            if not self.arrived.wait_for(lambda: phone in self.codes, timeout):
                raise RuntimeError(f"no login code reached the gateway for {phone} in {timeout} s")
            return self.codes.pop(phone)

    def close(self):
        self.server.shutdown()


def server_environment(keys, database_url, instance, gateway, port, workers):
    """Production settings, with the three the bench needs raised: SMS limits per number and per
    address (every login comes from 127.0.0.1), and the gateway is the bench's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PORTAL_", "SMS_", "LOGIN_"))}
    env.update(keys)
    env.update({
        "PORTAL_ENV": "production", "DATABASE_URL": database_url, "PORTAL_INSTANCE": str(instance),
        "PUBLIC_BASE_URL": "https://portal.bench.invalid", "REDIS_URL": "redis://127.0.0.1:6379/9",
        "SMS_BACKEND": "http", "SMS_HTTP_URL": gateway.url, "SMS_HTTP_TOKEN": gateway.TOKEN,
        "SMS_LIMIT_PER_MINUTE": "1000", "SMS_LIMIT_PER_HOUR": "1000", "SMS_LIMIT_PER_DAY": "1000",
        "SMS_SEND_IP_LIMIT": "100000 per hour", "LOGIN_IP_LIMIT": "100000 per hour",
        "WEB_CONCURRENCY": str(workers), "BIND": f"127.0.0.1:{port}", "TRUSTED_PROXIES": "0",
    })
    return env


class Portal:
    """gunicorn app:app (gunicorn.conf.py from the checkout) and `flask worker --kinds sms,sheet`,
    as deploy/portal-web.service and portal-worker.service start them."""

    def __init__(self, env, logs, worker_class=None, threads=None, profile_dir=None):
        self.env, self.logs = env, logs
        self.url = f"http://{env['BIND']}"
        command = [str(VENV_BIN / "gunicorn"), "app:app"]
        if profile_dir:
            env["BENCH_PROFILE_DIR"] = str(profile_dir)
            command += ["--config", str(ROOT / "bench" / "load_profile.py")]
        if worker_class:
            command += ["--worker-class", worker_class]
        if threads:
            command += ["--threads", str(threads)]
        self.web = self._start(command, "gunicorn.log")
        self.jobs = self._start([str(VENV_BIN / "flask"), "--app", "app", "worker", "--kinds", "sms,sheet"],
                                "worker.log")

    def _start(self, command, log_name):
        log = open(self.logs / log_name, "ab")
        return subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout=90):
        import urllib.request

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.web.poll() is not None:
                raise RuntimeError(f"gunicorn exited ({self.web.returncode}): see {self.logs / 'gunicorn.log'}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2) as answer:
                    if answer.status == 200 and len(self.worker_pids()) >= int(self.env["WEB_CONCURRENCY"]):
                        return
            except OSError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"the portal did not answer /healthz in {timeout} s")

    def worker_pids(self):
        path = Path(f"/proc/{self.web.pid}/task/{self.web.pid}/children")
        try:
            return [int(pid) for pid in path.read_text().split()]
        except OSError:
            return []

    def stop(self):
        for process in (self.web, self.jobs):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in (self.web, self.jobs):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def cpu_seconds(pid):
    """utime + stime of one process, in seconds; None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_mb(pid):
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_KB / 1024
    except OSError:
        return 0.0


def postgres_pids(database):
    """The PostgreSQL processes working for one database (its connections, its autovacuum): the
    machine's cluster serves other databases too, whose work is not the portal's."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").split()
            except OSError:
                continue
            if title[:1] == ["postgres:"] and database in title:
                pids.append(int(entry.name))
    return pids


def cpu_snapshot(pids):
    return {pid: seconds for pid in pids if (seconds := cpu_seconds(pid)) is not None}


def cpu_spent(before, after):
    """CPU seconds spent between two snapshots by the processes of `after` (a new one: all of it)."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def load_average():
    return float(Path("/proc/loadavg").read_text().split()[0])


# -- logging in -------------------------------------------------------------------------------------

def forged_captcha(app, cookie):
    """The session cookie with a captcha whose answer the bench knows. Production keeps the
    graphic captcha on, and only a person can read its image; the bench holds SECRET_KEY, so it
    signs a session that says a captcha showing CAPTCHA_TEXT was issued, as /captcha would have.
    Everything after it (the code request, its SMS job, the gateway, the code check) is real."""
    from portal.accounts import captcha
    from portal.clock import utcnow

    serializer = app.session_interface.get_signing_serializer(app)
    session = serializer.loads(cookie)
    session[captcha.SESSION_KEY] = captcha.issue(app.config["SECRET_KEY"], CAPTCHA_TEXT, utcnow())
    return serializer.dumps(session)


def log_in(app, base_url, gateway, phone):
    """One login through the real flow; the session cookie. The cookie is Secure in production:
    the bench keeps it itself and sends it back over plain loopback HTTP. The session's CSRF
    token comes with the person's first page (bench/load_scenario.py)."""
    import requests

    web = requests.Session()

    def call(method, path, cookie, **kwargs):
        answer = web.request(method, base_url + path, headers={"Cookie": f"{COOKIE}={cookie}"} if cookie else {},
                             allow_redirects=False, timeout=60, **kwargs)
        web.cookies.clear()
        return answer, answer.cookies.get(COOKIE, cookie)

    page, cookie = call("GET", "/login", None)
    token = CSRF_IN_FORM.search(page.text).group(1)
    cookie = forged_captcha(app, cookie)
    sent, cookie = call("POST", "/login/code", cookie, data={"phone": phone, "captcha": CAPTCHA_TEXT,
                                                              "csrf_token": token})
    if sent.status_code != 200 or "验证码已发送" not in sent.text:
        raise RuntimeError(f"code request for {phone}: {sent.status_code} {sent.text[:300]}")
    code = gateway.code_for(phone)
    done, cookie = call("POST", "/login", cookie, data={"phone": phone, "code": code, "csrf_token": token})
    if done.status_code != 302:
        raise RuntimeError(f"login of {phone}: {done.status_code} {done.text[:300]}")
    return cookie


def still_logged_in(base_url, cookie):
    import requests

    answer = requests.get(base_url + "/", headers={"Cookie": f"{COOKIE}={cookie}"}, allow_redirects=False,
                          timeout=30)
    return answer.status_code == 200  # an ended session is sent to /login


def in_parallel(call, items, threads=16):
    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(call, items))
