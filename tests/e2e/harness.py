"""Shared helpers for end-to-end tests: a throwaway PostgreSQL cluster, the
real clean-service binary on a free port, and a few raw-socket HTTP tools.

Every process started here is stopped and reaped by the test that started it
(PID 1 in CI does not reap orphans)."""

import base64
import email
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

BIN = os.environ.get("CLEAN_SERVICE_BIN", os.path.join(os.path.dirname(__file__), "../../build/clean-service"))
SOURCE = os.environ.get("CLEAN_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "../.."))
PG_CLUSTER = os.path.join(SOURCE, "scripts", "pg-cluster")


class Postgres:
    """A private cluster in a temporary directory, one per test module."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="clean-e2e-pg-")
        os.chmod(self.dir, 0o755)
        self.url = None

    def start(self):
        env = dict(os.environ, PG_CLUSTER_FSYNC="off")
        out = subprocess.run([PG_CLUSTER, "start", self.dir], env=env, check=True,
                             capture_output=True, text=True, timeout=120)
        self.url = out.stdout.strip().splitlines()[-1]
        return self.url

    def stop(self):
        subprocess.run([PG_CLUSTER, "stop", self.dir], check=True, capture_output=True, timeout=120)

    def psql(self, sql):
        with open(os.path.join(self.dir, "port")) as f:
            port = f.read().strip()
        out = subprocess.run(["/usr/lib/postgresql/15/bin/psql", "-h", "127.0.0.1", "-p", port, "-U", "postgres",
                              "-d", "clean_service", "-Atqc", sql], check=True, capture_output=True, text=True)
        return out.stdout.strip()

    def destroy(self):
        try:
            self.stop()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def migrated_postgres():
    """A started cluster with the schema at head: the usual module fixture."""
    pg = Postgres()
    pg.start()
    result = run_cli(["migrate"], env={"DATABASE_URL": pg.url})
    if result.returncode != 0:
        pg.destroy()
        raise RuntimeError("migrate failed: " + result.stderr)
    return pg


ADMIN_USER = "oncall"
ADMIN_PASSWORD = "e2e-admin-password-7f3a9c"


def basic_auth(user=ADMIN_USER, password=ADMIN_PASSWORD):
    return "Basic " + base64.b64encode((user + ":" + password).encode()).decode()


class Service:
    """`clean-service serve` on a free port (PORT=0; the port is read from
    the JSON `listening` log line). Logs are collected for assertions.
    Requests to /v1/admin/* carry the admin Basic credentials unless the
    caller sets Authorization or X-Break-Glass-Token itself."""

    def __init__(self, database_url, **env):
        self.env = dict(os.environ)
        for key in ("METRICS_TOKEN", "APP_ENV", "PORT", "HOST", "ADMIN_READ_ONLY"):
            self.env.pop(key, None)
        self.env.update({"DATABASE_URL": database_url, "PORT": "0", "LOG_FORMAT": "json",
                         "READYZ_DB_TIMEOUT_SECONDS": "0.5", "ADMIN_BASIC_USERNAME": ADMIN_USER,
                         "ADMIN_BASIC_PASSWORD": ADMIN_PASSWORD})
        # Files the jobs write (mail, exports, backups) stay out of the tree.
        self.files = tempfile.mkdtemp(prefix="clean-e2e-files-")
        self.env.update({"EMAIL_FILE_DIR": os.path.join(self.files, "mail"),
                         "STORAGE_DIR": os.path.join(self.files, "storage")})
        self.env.update({k: str(v) for k, v in env.items()})
        self.command = ["serve"]
        self.proc = None
        self.port = None
        self.lines = []
        self._lock = threading.Lock()

    def start(self, timeout=15):
        self.proc = subprocess.Popen([BIN] + self.command, env=self.env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        ready = threading.Event()

        def pump():
            for line in self.proc.stdout:
                with self._lock:
                    self.lines.append(line.rstrip("\n"))
                event = self._parse(line)
                if event and event.get("event") == "listening":
                    self.port = int(event["port"])
                    ready.set()
            ready.set()

        self._reader = threading.Thread(target=pump, daemon=True)
        self._reader.start()
        if not ready.wait(timeout) or self.port is None:
            self.stop()
            raise RuntimeError("service did not start:\n" + "\n".join(self.lines))
        return self

    @staticmethod
    def _parse(line):
        try:
            return json.loads(line)
        except ValueError:
            return None

    def events(self, name=None):
        with self._lock:
            parsed = [self._parse(l) for l in self.lines]
        return [e for e in parsed if e and (name is None or e.get("event") == name)]

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout=30):
        return self.proc.wait(timeout)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self._reader.join(5)
            self.proc.stdout.close()
        shutil.rmtree(self.files, ignore_errors=True)

    # -- HTTP helpers ---------------------------------------------------------

    def request(self, method, path, body=None, headers=None, timeout=10):
        headers = dict(headers or {})
        if path.startswith("/v1/admin") and not any(
                h.lower() in ("authorization", "x-break-glass-token") for h in headers):
            headers["Authorization"] = basic_auth()
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers)
            res = conn.getresponse()
            data = res.read()
            return res.status, dict(res.getheaders()), data
        finally:
            conn.close()

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def get_json(self, path, **kw):
        status, headers, data = self.get(path, **kw)
        return status, headers, json.loads(data)

    def connect(self, timeout=10):
        return socket.create_connection(("127.0.0.1", self.port), timeout=timeout)


def read_http_response(sock):
    """Reads one response (Content-Length framed) from a raw socket."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before a full header: %r" % data)
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for l in lines[1:]:
        k, _, v = l.partition(":")
        headers[k.strip().lower()] = v.strip()
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return status, headers, rest[:length], rest[length:]


def wait_until(predicate, timeout=10, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()


def run_cli(args, env=None, timeout=60):
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run([BIN] + args, env=full_env, capture_output=True, text=True, timeout=timeout)


def create_api_key(database_url, name="e2e"):
    """A fresh API key through the real CLI (only its hash is stored)."""
    result = run_cli(["api-keys", "create", "--name", name], env={"DATABASE_URL": database_url})
    if result.returncode != 0:
        raise RuntimeError("api-keys create failed: " + result.stderr)
    return result.stdout.strip()


class Api:
    """JSON calls to the client API with a bearer key."""

    def __init__(self, svc, key):
        self.svc = svc
        self.key = key

    def call(self, method, path, body=None, headers=None, key=None, timeout=15):
        h = {"Authorization": "Bearer " + (key or self.key)}
        if body is not None:
            h["Content-Type"] = "application/json"
            if not isinstance(body, (str, bytes)):
                body = json.dumps(body)
        h.update(headers or {})
        status, res_headers, data = self.svc.request(method, path, body=body, headers=h, timeout=timeout)
        parsed = json.loads(data) if data else None
        return status, res_headers, parsed

    def post(self, path, body=None, **kw):
        return self.call("POST", path, body if body is not None else {}, **kw)

    def get(self, path, **kw):
        return self.call("GET", path, **kw)

    def customer(self, **fields):
        body = {"name": "Ada Lovelace", "email": "ada@example.com"}
        body.update(fields)
        status, _, data = self.post("/v1/customers", body)
        assert status == 201, (status, data)
        return data

    def booking(self, customer_id, **fields):
        body = {"customer_id": customer_id, "scheduled_at": "2026-12-01T09:00:00Z", "duration_minutes": 120,
                "address": "1 Main St", "price_cents": 9000, "currency": "EUR"}
        body.update(fields)
        status, _, data = self.post("/v1/bookings", body)
        assert status == 201, (status, data)
        return data


class SmtpSink:
    """A real SMTP server (tests/e2e/smtp_sink.py on Debian's aiosmtpd) on a
    free port. `set_mode` makes it answer 451, 554 or stall; `stop` and
    `start` again on the same port simulate an outage."""

    def __init__(self, auth=""):
        self.auth = auth  # "user:password": the server requires SMTP AUTH
        self.dir = tempfile.mkdtemp(prefix="clean-e2e-smtp-")
        self.mail = os.path.join(self.dir, "mail")
        self.mode_file = os.path.join(self.dir, "mode")
        self.port = 0
        self.proc = None

    def start(self):
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "smtp_sink.py")
        args = [sys.executable, script, "--port", str(self.port), "--dir", self.mail, "--mode-file", self.mode_file]
        if self.auth:
            args += ["--auth", self.auth]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("PORT "):
            self.stop()
            raise RuntimeError("SMTP sink did not start: %r" % line)
        self.port = int(line.split()[1])
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.proc.stdout.close()
        self.proc = None

    def destroy(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    @property
    def url(self):
        return "smtp://127.0.0.1:%d" % self.port

    def set_mode(self, mode):
        with open(self.mode_file, "w") as f:
            f.write(mode)

    def count(self):
        """Messages accepted so far (cheap: no parsing)."""
        if not os.path.isdir(self.mail):
            return 0
        return sum(1 for n in os.listdir(self.mail) if n.endswith(".eml") and not n.startswith("."))

    def messages(self):
        out = []
        if not os.path.isdir(self.mail):
            return out
        for name in sorted(os.listdir(self.mail)):
            if name.endswith(".eml") and not name.startswith("."):
                with open(os.path.join(self.mail, name), "rb") as f:
                    out.append(email.message_from_bytes(f.read()))
        return out


def metric(svc, name, **labels):
    """The value of one series from /metrics (None when absent)."""
    text = svc.get("/metrics")[2].decode()
    for line in text.splitlines():
        if not line.startswith(name):
            continue
        rest = line[len(name):]
        if rest.startswith("{"):
            got = dict(re.findall(r'(\w+)="([^"]*)"', rest[:rest.index("}")]))
            value = rest[rest.index("}") + 1:]
        elif rest.startswith(" "):
            got, value = {}, rest
        else:
            continue
        if got == labels:
            return float(value)
    return None
