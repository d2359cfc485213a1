"""The HTTP edge against the real binary: health endpoints, readiness
flipping with the database, error bodies, limits, timeouts, shutdown."""

import json
import os
import signal
import socket
import time
import unittest

from harness import Service, migrated_postgres, read_http_response, wait_until

pg = None


def setUpModule():
    global pg
    pg = migrated_postgres()


def tearDownModule():
    pg.destroy()


class HealthTest(unittest.TestCase):
    def setUp(self):
        self.svc = Service(pg.url).start()

    def tearDown(self):
        self.svc.stop()

    def test_healthz_and_livez(self):
        for path in ("/healthz", "/livez"):
            status, headers, body = self.svc.get_json(path)
            self.assertEqual(status, 200)
            self.assertEqual(body["status"], "ok")
            self.assertEqual(headers["Content-Type"], "application/json")
        status, _, text = self.svc.get("/livez?verbose")
        self.assertEqual(status, 200)
        self.assertIn(b"[+]ping ok", text)

    def test_head_has_no_body(self):
        status, headers, body = self.svc.request("HEAD", "/healthz")
        self.assertEqual(status, 200)
        self.assertEqual(body, b"")
        self.assertGreater(int(headers["Content-Length"]), 0)

    def test_readyz_ok(self):
        status, _, body = self.svc.get_json("/readyz")
        self.assertEqual(status, 200, body)
        self.assertEqual(body["status"], "ok")
        self.assertTrue(body["database"]["ok"])
        self.assertGreaterEqual(body["database"]["latency_ms"], 0)
        self.assertTrue(body["migrations"]["ok"])
        self.assertEqual(body["migrations"]["current"], body["migrations"]["head"])
        self.assertGreaterEqual(body["migrations"]["head"], 1)
        # This process runs the jobs: their heartbeats are checked.
        self.assertTrue(body["jobs"]["checked"])
        self.assertTrue(body["jobs"]["ok"])
        self.assertEqual(body["jobs"]["stale"], [])
        status, _, text = self.svc.get("/readyz?verbose")
        self.assertEqual(status, 200)
        self.assertIn(b"[+]database ok", text)
        self.assertIn(b"readyz check passed", text)

    def test_readyz_follows_the_database(self):
        pg.stop()
        try:
            # A result younger than the reuse window (250 ms) may still be
            # served once; every call must be quick either way.
            def probe():
                started = time.monotonic()
                status, _, body = self.svc.get_json("/readyz")
                self.assertLess(time.monotonic() - started, 1.5)
                return (status, body) if status == 503 else None

            status, body = wait_until(probe, timeout=3)
            self.assertEqual(status, 503)
            self.assertEqual(body["status"], "fail")
            self.assertFalse(body["database"]["ok"])
            self.assertTrue(body["database"]["error"])
            # Liveness does not depend on the database.
            self.assertEqual(self.svc.get("/healthz")[0], 200)
            # Excluding the failed checks makes the rest decide.
            status, _, body = self.svc.get_json("/readyz?exclude=database,migrations")
            self.assertEqual(status, 200, body)
            status, _, text = self.svc.get("/readyz?verbose")
            self.assertEqual(status, 503)
            self.assertIn(b"[-]database failed", text)
        finally:
            pg.start()
        status = wait_until(lambda: self.svc.get("/readyz")[0] == 200, timeout=10)
        self.assertTrue(status, "readyz did not recover after the database came back")
        # The outage shows up where the runbook looks for it.
        _, _, metrics = self.svc.get("/metrics")
        line = [l for l in metrics.decode().splitlines() if l.startswith('http_5xx_total{path="/readyz"}')]
        self.assertTrue(line and float(line[0].split()[-1]) >= 2, line)

    def test_readyz_answers_within_a_second_when_postgres_hangs(self):
        # The whole server hangs: the postmaster first (so it forks no new
        # backend), then every process it had started. Picking backends from
        # pg_stat_activity instead misses one the service is opening right
        # then, which can answer the probe (seen under TSan's slow start-up).
        # kill() returns before the target has stopped: a postmaster busy
        # forking on the other core still completes that fork, so wait until
        # it is stopped, then stop children until a scan finds no new one.
        with open(os.path.join(pg.dir, "data", "postmaster.pid")) as f:
            postmaster = int(f.readline())
        os.kill(postmaster, signal.SIGSTOP)
        stopped = [postmaster]
        try:
            self.assertTrue(wait_until(lambda: process_state(postmaster) == "T", timeout=5))
            while True:
                new = [pid for pid in children_of(postmaster) if pid not in stopped]
                if not new:
                    break
                for pid in new:
                    os.kill(pid, signal.SIGSTOP)
                    stopped.append(pid)
            time.sleep(0.3)  # let the cached result age past its reuse window
            for _ in range(3):
                started = time.monotonic()
                status, _, body = self.svc.get_json("/readyz")
                elapsed = time.monotonic() - started
                self.assertEqual(status, 503, body)
                self.assertLess(elapsed, 1.2)
        finally:
            for pid in stopped:
                os.kill(pid, signal.SIGCONT)
        self.assertTrue(wait_until(lambda: self.svc.get("/readyz")[0] == 200, timeout=10))


def stat_fields(pid):
    """The fields of /proc/PID/stat after the command name (state first,
    then the parent's pid), or None once the process is gone."""
    try:
        with open("/proc/%s/stat" % pid) as f:
            stat = f.read()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2:].split()


def process_state(pid):
    """The state letter of a process (T: stopped), or None once gone."""
    fields = stat_fields(pid)
    return fields[0] if fields else None


def children_of(pid):
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = stat_fields(entry)  # None: ended meanwhile
        if fields and int(fields[1]) == pid:
            out.append(int(entry))
    return out


class ErrorsAndLimitsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.svc = Service(pg.url, HTTP_MAX_BODY_BYTES=1024, HTTP_READ_TIMEOUT_SECONDS=1).start()

    @classmethod
    def tearDownClass(cls):
        cls.svc.stop()

    def assertError(self, status, headers, body, want_status, want_code):
        self.assertEqual(status, want_status, body)
        self.assertEqual(headers.get("Content-Type", headers.get("content-type")), "application/json")
        parsed = json.loads(body)
        self.assertEqual(parsed["error"]["code"], want_code)
        self.assertTrue(parsed["error"]["message"])

    def test_404(self):
        status, headers, body = self.svc.get("/v1/nothing-here")
        self.assertError(status, headers, body, 404, "not_found")

    def test_405_lists_allowed_methods(self):
        status, headers, body = self.svc.request("DELETE", "/healthz")
        self.assertError(status, headers, body, 405, "method_not_allowed")
        self.assertEqual(headers["Allow"], "GET, HEAD")

    def test_413_for_large_body(self):
        status, headers, body = self.svc.request("POST", "/healthz", body=b"x" * 4096)
        self.assertError(status, headers, body, 413, "payload_too_large")

    def test_413_for_large_chunked_body(self):
        with self.svc.connect() as s:
            s.sendall(b"POST /healthz HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
            s.sendall(b"800\r\n" + b"y" * 0x800 + b"\r\n0\r\n\r\n")
            status, headers, body, _ = read_http_response(s)
        self.assertError(status, {"Content-Type": headers["content-type"]}, body, 413, "payload_too_large")

    def test_expect_100_continue(self):
        with self.svc.connect() as s:
            s.sendall(b"POST /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
            interim = s.recv(1024)
            self.assertTrue(interim.startswith(b"HTTP/1.1 100 Continue\r\n\r\n"), interim)
            s.sendall(b"abcd")
            status, _, _, _ = read_http_response(s)
            self.assertEqual(status, 405)
        # An announced body over the limit is refused before the client sends it.
        with self.svc.connect() as s:
            s.sendall(b"POST /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 999999\r\nExpect: 100-continue\r\n\r\n")
            status, headers, body, _ = read_http_response(s)
        self.assertError(status, {"Content-Type": headers["content-type"]}, body, 413, "payload_too_large")

    def test_400_for_garbage(self):
        with self.svc.connect() as s:
            s.sendall(b"THIS IS NOT HTTP\r\n\r\n")
            status, headers, body, _ = read_http_response(s)
        self.assertError(status, {"Content-Type": headers["content-type"]}, body, 400, "bad_request")

    def test_100kb_header_is_refused_and_server_stays_up(self):
        status, headers, body = self.svc.get("/healthz", headers={"X-Big": "a" * 100_000})
        self.assertError(status, headers, body, 431, "header_too_large")
        self.assertEqual(self.svc.get("/healthz")[0], 200)

    def test_request_id_is_echoed_or_generated(self):
        _, headers, _ = self.svc.get("/healthz", headers={"X-Request-ID": "abc-123"})
        self.assertEqual(headers["X-Request-ID"], "abc-123")
        _, headers, _ = self.svc.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
        self.assertRegex(headers["X-Request-ID"], r"^[0-9a-f]{32}$")
        _, headers, _ = self.svc.get("/nope")
        self.assertRegex(headers["X-Request-ID"], r"^[0-9a-f]{32}$")
        logged = wait_until(lambda: [e for e in self.svc.events("http_request") if e.get("request_id") == "abc-123"])
        self.assertTrue(logged)
        self.assertEqual(logged[0]["route"], "/healthz")
        self.assertEqual(logged[0]["status"], 200)
        self.assertIn("duration_ms", logged[0])
        self.assertIn("time", logged[0])
        self.assertEqual(logged[0]["level"], "info")

    def test_keep_alive_and_pipelining(self):
        with self.svc.connect() as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Request-ID: one\r\n\r\n"
                      b"GET /nope HTTP/1.1\r\nHost: t\r\nX-Request-ID: two\r\n\r\n"
                      b"GET /livez HTTP/1.1\r\nHost: t\r\nX-Request-ID: three\r\n\r\n")
            seen = []
            buffered = s.recv(65536)
            for _ in range(3):
                # read_http_response reads from the socket; feed it what is buffered first
                while b"\r\n\r\n" not in buffered:
                    buffered += s.recv(65536)
                head, _, rest = buffered.partition(b"\r\n\r\n")
                lines = head.decode().split("\r\n")
                hdrs = {l.split(":")[0].lower(): l.split(":", 1)[1].strip() for l in lines[1:]}
                length = int(hdrs["content-length"])
                while len(rest) < length:
                    rest += s.recv(65536)
                seen.append((int(lines[0].split()[1]), hdrs["x-request-id"]))
                buffered = rest[length:]
            self.assertEqual(seen, [(200, "one"), (404, "two"), (200, "three")])

    def test_stalled_half_request_is_cut_off(self):
        with self.svc.connect() as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow:")
            started = time.monotonic()
            # Keep trickling: a deadline per request, not per byte, must still fire.
            closed = False
            while time.monotonic() - started < 5:
                try:
                    s.sendall(b"a")
                    s.settimeout(0.2)
                    if s.recv(1024) == b"":
                        closed = True
                        break
                except socket.timeout:
                    continue
                except (ConnectionResetError, BrokenPipeError):
                    closed = True
                    break
            elapsed = time.monotonic() - started
        self.assertTrue(closed, "a trickling client held the connection for 5 s")
        self.assertLess(elapsed, 3)
        # Meanwhile and afterwards, others are served.
        self.assertEqual(self.svc.get("/healthz")[0], 200)

    def test_idle_connection_does_not_block_others(self):
        idle = [self.svc.connect() for _ in range(20)]
        try:
            self.assertEqual(self.svc.get("/healthz")[0], 200)
        finally:
            for s in idle:
                s.close()


class ShutdownTest(unittest.TestCase):
    def test_sigterm_finishes_in_flight_request_then_exits_zero(self):
        svc = Service(pg.url, SHUTDOWN_DRAIN_SECONDS=0).start()
        try:
            with svc.connect() as s:
                # Headers now, body later: the request is in flight when SIGTERM lands.
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nab")
                time.sleep(0.2)
                svc.signal(signal.SIGTERM)
                time.sleep(0.5)
                self.assertIsNone(svc.proc.poll(), "exited before finishing the in-flight request")
                s.sendall(b"cd")
                status, headers, body, _ = read_http_response(s)
                self.assertEqual(status, 200)
                self.assertEqual(headers.get("connection"), "close")
            self.assertEqual(svc.wait(10), 0)
            # The listener is closed.
            with self.assertRaises(OSError):
                socket.create_connection(("127.0.0.1", svc.port), timeout=1).close()
            self.assertTrue(svc.events("shutdown_complete"))
        finally:
            svc.stop()

    def test_readyz_turns_503_during_the_drain_delay(self):
        svc = Service(pg.url, SHUTDOWN_DRAIN_SECONDS=2).start()
        try:
            self.assertEqual(svc.get("/readyz")[0], 200)
            svc.signal(signal.SIGTERM)
            self.assertTrue(wait_until(lambda: svc.get("/readyz")[0] == 503, timeout=1.5))
            status, _, body = svc.get_json("/readyz")
            self.assertTrue(body["shutting_down"])
            # Still serving other requests while draining.
            self.assertEqual(svc.get("/healthz")[0], 200)
            self.assertEqual(svc.wait(10), 0)
        finally:
            svc.stop()

    def test_sigint_also_stops_cleanly(self):
        svc = Service(pg.url).start()
        try:
            svc.signal(signal.SIGINT)
            self.assertEqual(svc.wait(10), 0)
        finally:
            svc.stop()


if __name__ == "__main__":
    unittest.main()
