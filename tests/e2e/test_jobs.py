"""The jobs runner end to end against a real PostgreSQL: each job's logic on
seeded data (the right items, once), the CLI, the admin routes, missed-run
policies, failures and recovery, a hung runner turning /readyz 503, and
three processes running the reminder jobs together with every reminder
delivered exactly once at the sink."""

import email
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from harness import Api, Service, create_api_key, migrated_postgres, run_cli, wait_until

pg = None
work = None
api_key = None


def setUpModule():
    global pg, work, api_key
    pg = migrated_postgres()
    work = tempfile.mkdtemp(prefix="clean-e2e-jobs-")
    api_key = create_api_key(pg.url)


def tearDownModule():
    pg.destroy()
    shutil.rmtree(work, ignore_errors=True)


def iso(offset_seconds):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + offset_seconds))


def dirs(name):
    base = os.path.join(work, name)
    return {"EMAIL_FILE_DIR": os.path.join(base, "mail"), "STORAGE_DIR": os.path.join(base, "storage")}


def jobs_cli(args, **env):
    full = {"DATABASE_URL": pg.url, "NPS_SEND_DELAY_MINUTES": "0"}
    full.update({k: str(v) for k, v in env.items()})
    return run_cli(["jobs"] + args, env=full, timeout=120)


def run_once(job, **env):
    result = jobs_cli(["run", "--job", job, "--once"], **env)
    return result


def q(sql):
    return pg.psql(sql)


def mail_files(d):
    return sorted(glob.glob(os.path.join(d, "*.eml")))


def messages(d):
    out = []
    for path in mail_files(d):
        with open(path, "rb") as f:
            out.append(email.message_from_bytes(f.read()))
    return out


class Seeded:
    """Customers, bookings and invoices through the real API."""

    def __init__(self, svc):
        self.api = Api(svc, api_key)

    def customer(self, name="Grace Hopper", email_address=None):
        return self.api.customer(name=name, email=email_address or "grace%d@example.com" % time.time_ns())

    def booking(self, customer, at, **fields):
        return self.api.booking(customer["id"], scheduled_at=at, **fields)

    def invoice(self, booking, due, **fields):
        body = {"booking_id": booking["id"], "amount_cents": 12000, "currency": "EUR", "due_at": due}
        body.update(fields)
        status, _, data = self.api.post("/v1/invoices", body)
        assert status == 201, (status, data)
        return data


class JobLogicTest(unittest.TestCase):
    """Each job run once through `clean-service jobs run --once`."""

    @classmethod
    def setUpClass(cls):
        # A service for the API only: its own runner must not race the CLI here.
        cls.svc = Service(pg.url).start()
        cls.seed = Seeded(cls.svc)
        cls.env = dirs("logic")

    @classmethod
    def tearDownClass(cls):
        cls.svc.stop()

    def setUp(self):
        # Keep the schedule of the service's own runner out of the way.
        q("UPDATE job_state SET paused = true")

    def tearDown(self):
        q("UPDATE job_state SET paused = false")

    def events(self, pattern):
        return q("SELECT count(*) FROM outbox_events WHERE dedupe_key LIKE '%s'" % pattern)

    def test_booking_reminders_go_to_due_bookings_once(self):
        c = self.seed.customer()
        due = self.seed.booking(c, iso(3600))
        later = self.seed.booking(c, iso(3 * 86400))
        cancelled = self.seed.booking(c, iso(1800))
        self.seed.api.post("/v1/bookings/%d/cancel" % cancelled["id"])
        r = run_once("booking-reminders")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"^booking-reminders: ok .*queued \d+ booking reminders")
        self.assertEqual(self.events("booking:%d:reminder" % due["id"]), "1")
        self.assertEqual(self.events("booking:%d:reminder" % later["id"]), "0")
        self.assertEqual(self.events("booking:%d:reminder" % cancelled["id"]), "0")
        again = run_once("booking-reminders")
        self.assertEqual(again.returncode, 0)
        self.assertIn("queued 0 booking reminders", again.stdout)
        self.assertEqual(self.events("booking:%d:reminder" % due["id"]), "1")

    def test_invoice_reminders_once_per_interval(self):
        c = self.seed.customer()
        b = self.seed.booking(c, iso(7200))
        overdue = self.seed.invoice(b, iso(-86400))
        not_due = self.seed.invoice(b, iso(86400))
        paid = self.seed.invoice(b, iso(-86400))
        q("UPDATE invoices SET status = 'paid', paid_at = now() WHERE id = %d" % paid["id"])
        self.assertEqual(run_once("invoice-reminders").returncode, 0)
        self.assertEqual(self.events("invoice:%d:reminder:%%" % overdue["id"]), "1")
        self.assertEqual(self.events("invoice:%d:reminder:%%" % not_due["id"]), "0")
        self.assertEqual(self.events("invoice:%d:reminder:%%" % paid["id"]), "0")
        # Within the interval: nothing new.
        self.assertEqual(run_once("invoice-reminders").returncode, 0)
        self.assertEqual(self.events("invoice:%d:reminder:%%" % overdue["id"]), "1")
        # The interval has passed: a second, separately keyed reminder.
        q("UPDATE invoices SET last_reminded_at = now() - interval '4 days' WHERE id = %d" % overdue["id"])
        self.assertEqual(run_once("invoice-reminders").returncode, 0)
        self.assertEqual(self.events("invoice:%d:reminder:2" % overdue["id"]), "1")

    def test_nps_survey_once_per_completed_booking(self):
        c = self.seed.customer()
        b = self.seed.booking(c, iso(3600))
        self.seed.api.post("/v1/bookings/%d/complete" % b["id"])
        survey = q("SELECT id FROM nps_surveys WHERE booking_id = %d" % b["id"])
        # Too early with the default two-hour delay.
        self.assertEqual(run_once("nps-send", NPS_SEND_DELAY_MINUTES=120).returncode, 0)
        self.assertEqual(self.events("nps:%s:survey" % survey), "0")
        self.assertEqual(run_once("nps-send").returncode, 0)
        self.assertEqual(self.events("nps:%s:survey" % survey), "1")
        self.assertEqual(run_once("nps-send").returncode, 0)
        self.assertEqual(self.events("nps:%s:survey" % survey), "1")

    def test_outbox_dispatch_delivers_email_and_exports_once(self):
        c = self.seed.customer(name="Ada <script>", email_address="ada-dispatch@example.com")
        b = self.seed.booking(c, iso(3600))
        inv = self.seed.invoice(b, iso(86400))
        r = run_once("outbox-dispatch", **self.env)
        self.assertEqual(r.returncode, 0, r.stderr)
        mine = [m for m in messages(self.env["EMAIL_FILE_DIR"]) if "ada-dispatch@example.com" in m["To"]]
        subjects = sorted(m["Subject"] for m in mine)
        self.assertIn("Invoice %d for 120.00 EUR" % inv["id"], subjects)
        self.assertTrue(any(s.startswith("Your cleaning on") for s in subjects), subjects)
        for m in mine:
            self.assertRegex(m["Message-ID"], r"^<[0-9a-f]{32}@clean-service>$")
            html = [p for p in m.walk() if p.get_content_type() == "text/html"][0].get_payload(decode=True).decode()
            self.assertIn("Ada &lt;script&gt;", html)
            self.assertNotIn("<script>", html)
        export = os.path.join(self.env["STORAGE_DIR"], "exports", "invoice-%d.csv" % inv["id"])
        with open(export) as f:
            rows = f.read().splitlines()
        self.assertTrue(rows[0].startswith("invoice_id,booking_id,customer_id,amount_cents"))
        self.assertTrue(rows[1].startswith("%d,%d," % (inv["id"], b["id"])))
        key = "invoice:%d:created" % inv["id"]
        self.assertEqual(q("SELECT status FROM outbox_events WHERE dedupe_key = '%s'" % key), "delivered")
        # A redelivery (as after a crash between sending and recording) is
        # recognised at the sink by its Message-ID: still one file.
        before = len(mail_files(self.env["EMAIL_FILE_DIR"]))
        q("UPDATE outbox_events SET status = 'pending', next_attempt_at = now() WHERE dedupe_key = '%s'" % key)
        r = run_once("outbox-dispatch", **self.env)
        self.assertIn("duplicates 1", r.stdout)
        self.assertEqual(len(mail_files(self.env["EMAIL_FILE_DIR"])), before)

    def test_broken_events_go_dead_with_a_reason_and_retries_are_handled_by_email_dlq(self):
        q("INSERT INTO outbox_events (kind, dedupe_key, payload) VALUES "
          "('email', 'test:broken-template', '{\"template\": \"no_such_template\", \"booking_id\": 1}'), "
          "('email', 'test:missing-booking', '{\"template\": \"booking_confirmation\", \"booking_id\": 999999}')")
        self.assertEqual(run_once("outbox-dispatch", **self.env).returncode, 0)
        row = q("SELECT status, last_error FROM outbox_events WHERE dedupe_key = 'test:broken-template'")
        self.assertTrue(row.startswith("dead|template error (no_such_template)"), row)
        row = q("SELECT status, last_error FROM outbox_events WHERE dedupe_key = 'test:missing-booking'")
        self.assertTrue(row.startswith("dead|template error (booking_confirmation): no booking 999999"), row)

        c = self.seed.customer(email_address="dlq@example.com")
        b = self.seed.booking(c, iso(3600))
        q("INSERT INTO outbox_events (kind, dedupe_key, payload, status, attempts, next_attempt_at, last_error) "
          "VALUES ('email', 'test:retry-due', '{\"template\": \"booking_reminder\", \"booking_id\": %d}', 'retry', 2, "
          "now() - interval '1 minute', 'smtp timeout'), "
          "('email', 'test:retry-exhausted', '{\"template\": \"booking_reminder\", \"booking_id\": %d}', 'retry', 8, "
          "now() + interval '1 hour', 'smtp timeout'), "
          "('email', 'test:retry-later', '{\"template\": \"booking_reminder\", \"booking_id\": %d}', 'retry', 1, "
          "now() + interval '1 hour', 'smtp timeout')" % (b["id"], b["id"], b["id"]))
        r = run_once("email-dlq", **self.env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("1 exhausted moved to dead", r.stdout)
        status = lambda key: q("SELECT status FROM outbox_events WHERE dedupe_key = '%s'" % key)
        self.assertEqual(status("test:retry-due"), "delivered")
        self.assertEqual(status("test:retry-exhausted"), "dead")
        self.assertEqual(status("test:retry-later"), "retry")

    def test_storage_janitor_applies_retention_and_reports_space(self):
        exports = os.path.join(self.env["STORAGE_DIR"], "exports")
        os.makedirs(exports, exist_ok=True)
        old, fresh = os.path.join(exports, "old.csv"), os.path.join(exports, "fresh.csv")
        for path in (old, fresh):
            with open(path, "w") as f:
                f.write("x\n")
        os.utime(old, (time.time() - 40 * 86400,) * 2)
        q("INSERT INTO outbox_events (kind, dedupe_key, payload, status, delivered_at) VALUES "
          "('email', 'test:ancient', '{}', 'delivered', now() - interval '40 days')")
        r = run_once("storage-janitor", **self.env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertFalse(os.path.exists(old))
        self.assertTrue(os.path.exists(fresh))
        self.assertEqual(q("SELECT count(*) FROM outbox_events WHERE dedupe_key = 'test:ancient'"), "0")

    def test_backup_writes_a_verified_dump(self):
        r = run_once("backup", **self.env)
        self.assertEqual(r.returncode, 0, r.stderr)
        dumps = glob.glob(os.path.join(self.env["STORAGE_DIR"], "backups", "clean-service-*.dump"))
        self.assertEqual(len(dumps), 1)
        listing = subprocess.run(["pg_restore", "--list", dumps[0]], capture_output=True, text=True)
        self.assertEqual(listing.returncode, 0)
        self.assertIn("TABLE public bookings", listing.stdout)
        self.assertEqual(glob.glob(os.path.join(self.env["STORAGE_DIR"], "backups", ".tmp-*")), [])

    def test_failure_counts_then_a_fixed_rerun_resets(self):
        bad = dict(self.env, PG_DUMP_PATH="/nonexistent/pg_dump")
        for expected in (1, 2):
            r = run_once("backup", **bad)
            self.assertEqual(r.returncode, 1)
            self.assertIn("backup: failed", r.stderr)
            self.assertEqual(q("SELECT consecutive_failures FROM job_state WHERE name = 'backup'"), str(expected))
        status = json.loads(jobs_cli(["status", "--json"]).stdout)
        backup = [j for j in status["jobs"] if j["name"] == "backup"][0]
        self.assertEqual(backup["consecutive_failures"], 2)
        self.assertIn("cannot start /nonexistent/pg_dump", backup["last_error"]["message"])
        before = q("SELECT coalesce(ts_to_micros(last_success_at), 0) FROM job_state WHERE name = 'backup'")
        self.assertEqual(run_once("backup", **self.env).returncode, 0)
        self.assertEqual(q("SELECT consecutive_failures FROM job_state WHERE name = 'backup'"), "0")
        after = q("SELECT ts_to_micros(last_success_at) FROM job_state WHERE name = 'backup'")
        self.assertGreater(int(after), int(before))

    def test_cli_usage(self):
        r = run_once("no-such-job")
        self.assertEqual(r.returncode, 2)
        for name in ("booking-reminders", "invoice-reminders", "nps-send", "email-dlq", "outbox-dispatch",
                     "storage-janitor", "backup"):
            self.assertIn(name, r.stderr)
        listing = jobs_cli(["list"])
        self.assertEqual(listing.returncode, 0)
        self.assertIn("0 3 * * *", listing.stdout)
        self.assertEqual(jobs_cli(["run", "--job", "backup"]).returncode, 2)  # --once is required
        self.assertIn("JOB_BACKUP_SCHEDULE", jobs_cli(["list"], JOB_BACKUP_SCHEDULE="61 * * * *").stderr)


class RunnerTest(unittest.TestCase):
    """A service running the jobs on fast schedules."""

    FAST = {"JOB_POLL_SECONDS": "0.2", "JOB_BOOKING_REMINDERS_SCHEDULE": "1s", "JOB_OUTBOX_DISPATCH_SCHEDULE": "1s",
            "JOB_NPS_SEND_SCHEDULE": "1s", "NPS_SEND_DELAY_MINUTES": "0"}

    def test_admin_status_run_pause_resume(self):
        env = dict(self.FAST, **dirs("admin"))
        svc = Service(pg.url, **env).start()
        try:
            def status():
                s, _, body = svc.get_json("/v1/admin/jobs/status")
                self.assertEqual(s, 200)
                return {j["name"]: j for j in body["jobs"]}, body["runner"]
            self.assertTrue(wait_until(lambda: status()[0]["outbox-dispatch"].get("last_success"), timeout=10))
            jobs, runner = status()
            self.assertFalse(runner["stale"])
            utc = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
            for key in ("last_heartbeat", "last_success", "next_run"):
                self.assertRegex(jobs["outbox-dispatch"][key], utc)
            self.assertRegex(runner["last_heartbeat"], utc)
            for j in jobs.values():
                for key in ("name", "last_heartbeat", "last_success", "consecutive_failures", "last_error"):
                    self.assertIn(key, j)

            # Run now: the storage janitor (hourly) runs within a poll or two.
            started = jobs["storage-janitor"]["last_started"]
            s, _, body = svc.request("POST", "/v1/admin/jobs/storage-janitor/run")
            self.assertEqual(s, 202, body)
            self.assertTrue(wait_until(lambda: status()[0]["storage-janitor"]["last_started"] != started, timeout=5))

            self.assertEqual(svc.request("POST", "/v1/admin/jobs/booking-reminders/pause")[0], 200)
            self.assertEqual(status()[0]["booking-reminders"]["state"], "paused")
            s, _, body = svc.request("POST", "/v1/admin/jobs/booking-reminders/run")
            self.assertEqual(s, 409)
            self.assertEqual(json.loads(body)["error"]["code"], "job_paused")
            paused_at = status()[0]["booking-reminders"]["last_started"]
            time.sleep(1.5)
            self.assertEqual(status()[0]["booking-reminders"]["last_started"], paused_at)
            self.assertEqual(svc.request("POST", "/v1/admin/jobs/booking-reminders/resume")[0], 200)
            self.assertTrue(wait_until(lambda: status()[0]["booking-reminders"]["last_started"] != paused_at,
                                       timeout=5))
            s, _, body = svc.request("POST", "/v1/admin/jobs/nope/run")
            self.assertEqual(s, 404)
            self.assertIn("booking-reminders", json.loads(body)["error"]["message"])
            rows = [r for r in json.loads(svc.get("/v1/admin/audit?limit=20")[2])["data"]
                    if r["action"].startswith("POST /v1/admin/jobs/")]
            self.assertTrue(any(r["target"] == "booking-reminders" and r["status"] == 409 for r in rows))

            metrics = svc.get("/metrics")[2].decode()
            for series in ('job_last_heartbeat_timestamp{job="jobs-runner"}', 'job_runner_up{job="jobs-runner"} 1',
                           'job_runner_up{job="backup"} 1', "job_heartbeat_ttl_seconds 300",
                           'job_runs_total{job="outbox-dispatch",outcome="success"}', "storage_used_bytes",
                           'job_overdue{job="backup"} 0'):
                self.assertIn(series, metrics)
        finally:
            svc.stop()

    def test_missed_runs_follow_each_jobs_policy(self):
        q("INSERT INTO job_state (name, next_run_at) VALUES ('invoice-reminders', now() - interval '5 hours'), "
          "('email-dlq', now() - interval '5 hours') ON CONFLICT (name) DO UPDATE SET "
          "next_run_at = excluded.next_run_at, paused = false")
        before = q("SELECT coalesce(ts_to_micros(last_started_at), 0) FROM job_state WHERE name = 'email-dlq'")
        svc = Service(pg.url, JOB_POLL_SECONDS="0.2", **dirs("missed")).start()
        try:
            self.assertTrue(wait_until(lambda: len(svc.events("job_missed_runs")) >= 2, timeout=10))
            by_job = {e["job"]: e for e in svc.events("job_missed_runs")}
            self.assertEqual(by_job["invoice-reminders"]["policy"], "catch_up")
            self.assertGreaterEqual(by_job["invoice-reminders"]["missed"], 5)
            self.assertEqual(by_job["email-dlq"]["policy"], "skip")
            # catch_up ran once; skip moved to the next slot without running.
            self.assertTrue(wait_until(lambda: q("SELECT last_started_at > now() - interval '1 minute' "
                                                 "FROM job_state WHERE name = 'invoice-reminders'") == "t"))
            self.assertEqual(q("SELECT next_run_at > now() FROM job_state WHERE name = 'invoice-reminders'"), "t")
            self.assertEqual(q("SELECT next_run_at > now() FROM job_state WHERE name = 'email-dlq'"), "t")
            self.assertEqual(q("SELECT coalesce(ts_to_micros(last_started_at), 0) FROM job_state "
                               "WHERE name = 'email-dlq'"), before)
        finally:
            svc.stop()

    def test_failing_job_is_reported_and_recovers_after_a_fixed_rerun(self):
        q("UPDATE job_state SET consecutive_failures = 0 WHERE name = 'backup'")
        env = dict(dirs("failing"), JOB_POLL_SECONDS="0.2", JOB_BACKUP_SCHEDULE="1s",
                   PG_DUMP_PATH="/nonexistent/pg_dump")
        svc = Service(pg.url, **env).start()
        try:
            def errors():
                m = re.search(r'job_errors_total\{job="backup",reason="backup"\} (\d+)', svc.get("/metrics")[2].decode())
                return int(m.group(1)) if m else 0
            self.assertTrue(wait_until(lambda: errors() >= 2, timeout=10))
            self.assertGreaterEqual(int(q("SELECT consecutive_failures FROM job_state WHERE name = 'backup'")), 2)
            ready = json.loads(svc.get("/readyz")[2])
            self.assertIn("backup", ready["jobs"]["failing"])
            self.assertTrue(ready["jobs"]["ok"])  # failing jobs are named, not fatal
            # Fixed (a working pg_dump) and rerun once from the CLI.
            q("UPDATE job_state SET paused = true WHERE name = 'backup'")
            self.assertEqual(run_once("backup", **dirs("failing")).returncode, 0)
            self.assertEqual(q("SELECT consecutive_failures FROM job_state WHERE name = 'backup'"), "0")
            success = lambda: re.search(r'job_last_success_timestamp\{job="backup"\} (\d+)',
                                        svc.get("/metrics")[2].decode())
            self.assertTrue(wait_until(lambda: success() and int(success().group(1)) > time.time() - 60, timeout=5))
        finally:
            q("UPDATE job_state SET paused = false WHERE name = 'backup'")
            svc.stop()

    def test_running_state_follows_the_runs_lock_and_a_lost_connection_is_still_recorded(self):
        slow = os.path.join(work, "slow-pg_dump")
        with open(slow, "w") as f:
            f.write('#!/bin/sh\nsleep 3\nexec pg_dump "$@"\n')
        os.chmod(slow, 0o755)
        q("UPDATE job_state SET paused = false, next_run_at = now() + interval '1 day' WHERE name = 'backup'")
        svc = Service(pg.url, JOB_POLL_SECONDS="0.2", PG_DUMP_PATH=slow, **dirs("running")).start()
        try:
            def backup():
                return {j["name"]: j for j in svc.get_json("/v1/admin/jobs/status")[2]["jobs"]}["backup"]
            # What a dead owner left behind is not a run: nobody holds the lock.
            q("UPDATE job_state SET running_since = now(), running_owner = 'gone:1' WHERE name = 'backup'")
            self.assertEqual((backup()["state"], backup()["running"], backup()["running_owner"]), ("idle", False, None))
            before = q("SELECT coalesce(ts_to_micros(last_finished_at), 0) FROM job_state WHERE name = 'backup'")
            self.assertEqual(svc.request("POST", "/v1/admin/jobs/backup/run")[0], 202)
            self.assertTrue(wait_until(lambda: backup()["running"], timeout=5))
            self.assertEqual(backup()["state"], "running")
            self.assertIsNotNone(backup()["running_owner"])
            # The job's own connection dies mid-run: the run still ends recorded.
            q("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
              "WHERE application_name = 'clean-service job backup'")
            finished = lambda: q("SELECT coalesce(ts_to_micros(last_finished_at), 0) FROM job_state "
                                 "WHERE name = 'backup'") != before
            self.assertTrue(wait_until(finished, timeout=15))
            self.assertEqual(q("SELECT last_outcome, running_since IS NULL FROM job_state WHERE name = 'backup'"),
                             "success|t")
            self.assertFalse(backup()["running"])
            # And the lock is free: the next run is not skipped.
            self.assertEqual(run_once("backup", **dirs("running")).returncode, 0)
        finally:
            svc.stop()

    def test_an_http_only_process_exports_no_runner_series(self):
        svc = Service(pg.url, **dirs("http-only"))
        svc.command = ["serve", "--no-jobs"]
        svc.start()
        try:
            metrics = svc.get("/metrics")[2].decode()
            for name in ("job_last_heartbeat_timestamp", "job_runner_up", "job_heartbeat_ttl_seconds",
                         "backup_last_success_timestamp"):
                self.assertNotIn(name, metrics)
            self.assertEqual(svc.get("/readyz")[0], 200)
        finally:
            svc.stop()

    def test_hung_runner_makes_readyz_fail_until_it_is_restarted(self):
        svc = Service(pg.url, FAULT_INJECTION=1, JOB_HEARTBEAT_TTL_SECONDS=2, SUPERVISOR_BACKOFF_MIN_SECONDS=0.1,
                      **dirs("hung")).start()
        try:
            self.assertTrue(wait_until(lambda: svc.get("/readyz")[0] == 200, timeout=10))
            status, _, _ = svc.request("POST", "/v1/admin/supervisor/root/jobs/runner/hang")
            self.assertEqual(status, 202)
            hung_at = time.monotonic()
            self.assertTrue(wait_until(lambda: svc.get("/readyz")[0] == 503, timeout=5))
            ready = json.loads(svc.get("/readyz")[2])
            self.assertFalse(ready["jobs"]["ok"])
            self.assertIn("jobs-runner", ready["jobs"]["detail"])
            self.assertLess(time.monotonic() - hung_at, 2 + 1.5)
            # Killed as hung at twice the TTL and restarted: ready again.
            self.assertTrue(wait_until(lambda: svc.get("/readyz")[0] == 200, timeout=10))
            self.assertTrue(any(e.get("actor") == "root/jobs/runner" for e in svc.events("actor_exited")))
        finally:
            svc.stop()


class MultiInstanceTest(unittest.TestCase):
    def test_three_processes_send_every_reminder_exactly_once(self):
        env = dict(RunnerTest.FAST, JOB_INVOICE_REMINDERS_SCHEDULE="1s", EMAIL_FILE_DIR=os.path.join(work, "multi-mail"),
                   STORAGE_DIR=os.path.join(work, "multi-storage"), ACCESS_LOG="false")
        api_svc = Service(pg.url, **env)
        api_svc.start()
        runners = []
        try:
            seed = Seeded(api_svc)
            c = seed.customer(email_address="multi@example.com")
            bookings = [seed.booking(c, iso(600 + i)) for i in range(25)]
            done = [seed.booking(c, iso(900 + i)) for i in range(10)]
            for b in done:
                seed.api.post("/v1/bookings/%d/complete" % b["id"])
            invoices = [seed.invoice(bookings[i], iso(-3600)) for i in range(10)]
            for _ in range(2):
                runners.append(JobsRunner(pg.url, env).start())
            keys = (["booking:%d:reminder" % b["id"] for b in bookings]
                    + ["invoice:%d:reminder:1" % i["id"] for i in invoices]
                    + ["nps:%s:survey" % q("SELECT id FROM nps_surveys WHERE booking_id = %d" % b["id"]) for b in done])
            key_list = ",".join("'%s'" % k for k in keys)
            delivered = lambda: int(q("SELECT count(*) FROM outbox_events WHERE status = 'delivered' "
                                      "AND dedupe_key IN (%s)" % key_list))
            self.assertTrue(wait_until(lambda: delivered() == len(keys), timeout=30), delivered())
            time.sleep(2)  # let every instance run a few more rounds
            self.assertEqual(delivered(), len(keys))
            self.assertEqual(q("SELECT count(*) FROM outbox_events WHERE dedupe_key IN (%s)" % key_list),
                             str(len(keys)))
            # At the sink: one file per reminder, none written twice.
            to_multi = [m for m in messages(env["EMAIL_FILE_DIR"]) if "multi@example.com" in m["To"]]
            reminders = [m for m in to_multi if m["Subject"].startswith(("Reminder:", "How did we do"))]
            self.assertEqual(len(reminders), len(keys))
            self.assertEqual(len({m["Message-ID"] for m in reminders}), len(keys))
            duplicates = 0
            for svc in [api_svc] + runners:
                m = re.search(r'outbox_events_total\{kind="email",outcome="duplicate"\} (\d+)',
                              svc.get("/metrics")[2].decode())
                duplicates += int(m.group(1)) if m else 0
            self.assertEqual(duplicates, 0)
            # The jobs-runner processes serve only the operational endpoints.
            self.assertEqual(runners[0].get("/readyz")[0], 200)
            self.assertEqual(runners[0].get("/v1/customers")[0], 404)
            # Each ran work: the advisory locks and slot claims spread it.
            status = json.loads(jobs_cli(["status", "--json"]).stdout)
            self.assertGreaterEqual(len(status["runner"]["instances"]), 3)
        finally:
            for r in runners:
                r.stop()
            api_svc.stop()

    def test_killed_runner_goes_stale_in_jobs_status(self):
        runner = JobsRunner(pg.url, dict(JOB_HEARTBEAT_TTL_SECONDS="2", **dirs("killed"))).start()
        pid = runner.proc.pid
        instance = lambda: [i for i in json.loads(jobs_cli(["status", "--json"], JOB_HEARTBEAT_TTL_SECONDS=2).stdout)
                            ["runner"]["instances"] if i["pid"] == pid]
        self.assertTrue(wait_until(lambda: instance() and not instance()[0]["stale"], timeout=5))
        runner.proc.send_signal(signal.SIGKILL)
        runner.proc.wait()
        self.assertTrue(wait_until(lambda: instance()[0]["stale"], timeout=6))
        runner.stop()


class JobsRunner(Service):
    """`clean-service jobs-runner`: the jobs only, on its own port."""

    def __init__(self, database_url, env):
        super().__init__(database_url, **env)
        self.command = ["jobs-runner"]


if __name__ == "__main__":
    unittest.main()
