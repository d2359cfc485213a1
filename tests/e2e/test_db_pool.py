"""The database pool against a real PostgreSQL under trouble: exhaustion
(timeouts, the counter, the warning), a query stuck on a lock (cancelled at
the caller's deadline), terminated backends, and a PostgreSQL restart in the
middle of load, all without restarting the service."""

import concurrent.futures
import os
import re
import subprocess
import threading
import time
import unittest

from harness import Api, Service, create_api_key, migrated_postgres, wait_until

PSQL = "/usr/lib/postgresql/15/bin/psql"


def metric(svc, name):
    """Sum of all samples of `name` (exact metric name, any labels)."""
    text = svc.get("/metrics")[2].decode()
    total = 0.0
    for line in text.splitlines():
        m = re.match(r"^%s(\{[^}]*\})? (\S+)$" % re.escape(name), line)
        if m:
            total += float(m.group(2))
    return total


def labelled(svc, series):
    text = svc.get("/metrics")[2].decode()
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    return None


class LockHolder:
    """A psql session holding a row lock on a booking for `seconds`."""

    def __init__(self, pg, booking_id, seconds):
        self.pg = pg
        self.seconds = seconds
        with open(os.path.join(pg.dir, "port")) as f:
            port = f.read().strip()
        sql = ("BEGIN; SELECT id FROM bookings WHERE id = %d FOR UPDATE; SELECT pg_sleep(%d); COMMIT;"
               % (booking_id, seconds))
        self.proc = subprocess.Popen([PSQL, "-h", "127.0.0.1", "-p", port, "-U", "postgres", "-d", "clean_service",
                                      "-Atqc", sql], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: pg.psql("SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%%pg_sleep(%d)%%' "
                                   "AND pid <> pg_backend_pid()" % seconds) == "1", timeout=10)

    def release(self):
        # The server only notices a vanished client after pg_sleep returns:
        # end the session on the server side.
        self.pg.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%%pg_sleep(%d)%%' "
                     "AND pid <> pg_backend_pid()" % self.seconds)
        self.proc.terminate()
        self.proc.wait(10)


class PoolUnderTroubleTest(unittest.TestCase):
    def setUp(self):
        self.pg = migrated_postgres()
        self.svc = None

    def tearDown(self):
        try:
            if self.svc:
                self.svc.stop()
        finally:
            self.pg.destroy()

    def start(self, **env):
        self.svc = Service(self.pg.url, **env).start()
        self.api = Api(self.svc, create_api_key(self.pg.url))
        return self.svc

    def booking(self):
        return self.api.booking(self.api.customer()["id"])["id"]

    def pool_backends(self):
        return int(self.pg.psql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'clean-service pool'"))

    def test_exhaustion_times_out_waiters_and_cancels_stuck_queries(self):
        svc = self.start(DATABASE_POOL_SIZE=2, DATABASE_MAX_OVERFLOW=1, DATABASE_POOL_TIMEOUT_SECONDS=0.5,
                         API_REQUEST_TIMEOUT_SECONDS=2.5, DATABASE_STATEMENT_TIMEOUT_SECONDS=60)
        booking = self.booking()
        other = self.booking()
        holder = LockHolder(self.pg, booking, 30)
        try:
            def complete(_):
                t0 = time.monotonic()
                status, headers, body = self.api.post("/v1/bookings/%d/complete" % booking)
                return status, headers, body, time.monotonic() - t0

            with concurrent.futures.ThreadPoolExecutor(8) as pool:
                answers = list(pool.map(complete, range(8)))
            codes = sorted(a[2]["error"]["code"] for a in answers)
            self.assertEqual({a[0] for a in answers}, {503}, answers)
            # Three got a connection (2 steady + 1 overflow) and blocked on the
            # lock until their deadline; five never got one.
            self.assertEqual(codes.count("db_pool_timeout"), 5, codes)
            self.assertEqual(codes.count("deadline_exceeded"), 3, codes)
            for status, headers, body, took in answers:
                self.assertIn("Retry-After", headers)
                self.assertLess(took, 4.0)
            self.assertGreaterEqual(metric(svc, "db_pool_timeout_total"), 5)
            warnings = svc.events("db_pool_timeout")
            self.assertTrue(warnings)
            self.assertEqual(warnings[0]["level"], "warning")
            # The stuck statements were cancelled on the server, although the
            # lock is still held: no backend of the pool waits for it any more.
            self.assertTrue(wait_until(lambda: self.pg.psql(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'clean-service pool' "
                "AND wait_event_type = 'Lock'") == "0", timeout=5), self.pg.psql(
                "SELECT pid, state, wait_event, now() - query_start, query FROM pg_stat_activity "
                "WHERE application_name = 'clean-service pool' AND wait_event_type = 'Lock'")
                + "; restarts: %s; failed calls: %d"
                % (svc.events("actor_restarted"), len(svc.events("db_call_failed"))))
            self.assertGreaterEqual(labelled(svc, 'db_errors_total{kind="timeout"}'), 3)
            # No connection leaked: everything else still works.
            status, _, data = self.api.get("/v1/bookings/%d" % other)
            self.assertEqual(status, 200, data)
            self.assertTrue(wait_until(lambda: labelled(svc, 'db_pool_connections{state="busy"}') == 0, timeout=3))
        finally:
            holder.release()
        status, _, done = self.api.post("/v1/bookings/%d/complete" % booking)
        self.assertEqual(status, 200, done)

    def test_terminated_backends_are_replaced_transparently(self):
        svc = self.start(DATABASE_POOL_SIZE=3, DATABASE_MAX_OVERFLOW=0)
        booking = self.booking()
        self.assertTrue(wait_until(lambda: self.pool_backends() == 3))
        killed = self.pg.psql("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                              "WHERE application_name = 'clean-service pool'")
        self.assertEqual(killed, "3")
        for _ in range(10):
            status, _, data = self.api.get("/v1/bookings/%d" % booking)
            self.assertEqual(status, 200, data)
        self.assertGreaterEqual(labelled(svc, 'db_errors_total{kind="connection"}'), 1)
        self.assertTrue(wait_until(lambda: self.pool_backends() == 3, timeout=5))

    def test_postgres_restart_under_load_recovers_without_a_service_restart(self):
        svc = self.start(DATABASE_POOL_SIZE=2, DATABASE_MAX_OVERFLOW=1, API_REQUEST_TIMEOUT_SECONDS=5)
        booking = self.booking()
        results = []
        stop = threading.Event()

        def load():
            while not stop.is_set():
                t0 = time.monotonic()
                try:
                    status, _, body = self.api.get("/v1/bookings/%d" % booking, timeout=10)
                    code = body["error"]["code"] if status != 200 else None
                except Exception as e:  # a refused connection would be a failure of the service
                    status, code = None, repr(e)
                results.append((time.monotonic(), status, code, time.monotonic() - t0))
                time.sleep(0.01)

        threads = [threading.Thread(target=load, daemon=True) for _ in range(3)]
        for t in threads:
            t.start()
        try:
            time.sleep(0.5)
            self.pg.stop()
            stopped_at = time.monotonic()
            self.assertTrue(wait_until(lambda: svc.get("/readyz")[0] == 503, timeout=5))
            time.sleep(2)
            restarting_at = time.monotonic()
            self.pg.start()
            started_at = time.monotonic()
            self.assertTrue(wait_until(lambda: self.api.get("/v1/bookings/%d" % booking)[0] == 200, timeout=15))
            recovered_at = time.monotonic()
            self.assertTrue(wait_until(lambda: svc.get("/readyz")[0] == 200, timeout=10))
            time.sleep(0.5)
        finally:
            stop.set()
            for t in threads:
                t.join(15)
        self.assertIsNone(svc.proc.poll(), "the service must survive the outage")
        during = [r for r in results if stopped_at + 0.5 < r[0] - r[3] and r[0] < restarting_at]
        self.assertTrue(during)
        self.assertEqual({r[1] for r in during}, {503}, during[:5])
        self.assertTrue({r[2] for r in during} <= {"database_unavailable"}, {r[2] for r in during})
        # Failing fast: no request waits for the database that is not there.
        self.assertLess(max(r[3] for r in during), 1.0)
        self.assertLess(recovered_at - started_at, 8)
        after = [r for r in results if r[0] > recovered_at + 0.2]
        self.assertTrue(after)
        self.assertEqual({r[1] for r in after}, {200})
        self.assertIsNone(next((r for r in results if r[1] is None), None))


if __name__ == "__main__":
    unittest.main()
