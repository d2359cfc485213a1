"""/metrics access rules from the runbook, exactly, and promtool on the
real output."""

import shutil
import subprocess
import unittest

from harness import Service, migrated_postgres

pg = None
TOKEN = "s3cr3t-token-value"
OLD_TOKEN = "previous-token-value"


def setUpModule():
    global pg
    pg = migrated_postgres()


def tearDownModule():
    pg.destroy()


class ProductionWithToken(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.svc = Service(pg.url, APP_ENV="production", METRICS_TOKEN=f"{TOKEN},{OLD_TOKEN}").start()

    @classmethod
    def tearDownClass(cls):
        cls.svc.stop()

    def test_missing_token_is_401(self):
        status, headers, body = self.svc.get("/metrics")
        self.assertEqual(status, 401)
        self.assertIn(b'"unauthorized"', body)
        self.assertIn("Bearer", headers["WWW-Authenticate"])

    def test_wrong_token_is_401(self):
        self.assertEqual(self.svc.get("/metrics", headers={"Authorization": "Bearer nope"})[0], 401)
        self.assertEqual(self.svc.get("/metrics?token=nope")[0], 401)
        self.assertEqual(self.svc.get("/metrics", headers={"Authorization": f"Basic {TOKEN}"})[0], 401)

    def test_bearer_and_query_token_work(self):
        self.svc.get("/healthz")
        status, headers, body = self.svc.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        self.assertEqual(status, 200)
        self.assertTrue(headers["Content-Type"].startswith("text/plain; version=0.0.4"))
        self.assertIn(b"http_request_latency_seconds", body)
        self.assertEqual(self.svc.get(f"/metrics?token={TOKEN}")[0], 200)

    def test_second_token_works_during_rotation(self):
        self.assertEqual(self.svc.get("/metrics", headers={"Authorization": f"Bearer {OLD_TOKEN}"})[0], 200)

    def test_token_never_logged_or_exported(self):
        self.svc.get(f"/metrics?token={TOKEN}")
        self.svc.get("/metrics?token=wrong-guess")
        _, _, body = self.svc.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        self.assertNotIn(TOKEN.encode(), body)
        self.assertNotIn(b"wrong-guess", body)
        log = "\n".join(self.svc.lines)
        self.assertNotIn(TOKEN, log)
        self.assertNotIn("wrong-guess", log)
        self.assertIn(b'metrics_auth_failures_total{reason="wrong_token"}', body)

    def test_production_logs_are_json_by_default(self):
        self.assertTrue(self.svc.events("listening"))


class ProductionWithoutToken(unittest.TestCase):
    def test_unset_token_is_500(self):
        svc = Service(pg.url, APP_ENV="production").start()
        try:
            status, _, body = svc.get("/metrics")
            self.assertEqual(status, 500)
            self.assertIn(b"metrics_token_not_configured", body)
            self.assertEqual(svc.get("/metrics", headers={"Authorization": "Bearer x"})[0], 500)
        finally:
            svc.stop()


class Development(unittest.TestCase):
    def test_open_without_token(self):
        svc = Service(pg.url, APP_ENV="development").start()
        try:
            self.assertEqual(svc.get("/metrics")[0], 200)
        finally:
            svc.stop()

    def test_token_enforced_once_set(self):
        svc = Service(pg.url, APP_ENV="development", METRICS_TOKEN=TOKEN).start()
        try:
            self.assertEqual(svc.get("/metrics")[0], 401)
            self.assertEqual(svc.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})[0], 200)
        finally:
            svc.stop()


class Exposition(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.svc = Service(pg.url).start()

    @classmethod
    def tearDownClass(cls):
        cls.svc.stop()

    def scrape(self):
        for path in ("/healthz", "/readyz", "/nope", "/v1/bookings/123"):
            self.svc.get(path)
        self.svc.request("POST", "/healthz")
        status, _, body = self.svc.get("/metrics")
        self.assertEqual(status, 200)
        return body.decode()

    def test_promtool_accepts_the_output(self):
        promtool = shutil.which("promtool") or "/usr/bin/promtool"
        text = self.scrape()
        result = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)

    def test_runbook_metrics_with_route_templates(self):
        text = self.scrape()
        self.assertIn('http_request_latency_seconds_bucket{method="GET",path="/healthz",status_class="2xx",le=', text)
        self.assertIn('http_request_latency_seconds_count{method="GET",path="unmatched",status_class="4xx"}', text)
        self.assertIn('http_request_latency_seconds_count{method="POST",path="/healthz",status_class="4xx"}', text)
        self.assertIn('http_5xx_total{path="/readyz"} 0', text)
        # Raw paths and ids never become label values.
        self.assertNotIn("/v1/bookings/123", text)
        self.assertNotIn('path="/nope"', text)
        for name in ("process_start_time_seconds", "process_resident_memory_bytes", "process_open_fds",
                     "process_cpu_seconds_total"):
            self.assertRegex(text, rf"(?m)^{name} \d")
        self.assertRegex(text, r'(?m)^readiness_check_up\{check="database"\} 1')


if __name__ == "__main__":
    unittest.main()
