"""The ops kit against the real service: every series the alert rules select
exists in a scrape of the processes a deployment runs, every runbook names
only commands the CLI accepts, routes the service serves and metrics it
exports, and GET /metrics/basic summarises the same counters."""

import hashlib
import hmac
import json
import os
import re
import time
import unittest

import yaml

import opskit
from harness import SOURCE, Service, migrated_postgres, run_cli, wait_until

TOKEN = "ops-kit-metrics-token-5521"
pg = None
scrapes = {}


def setUpModule():
    global pg
    pg = migrated_postgres()
    # The processes of a split deployment: API instances (serve --no-jobs)
    # and a jobs runner, each scraped like Prometheus scrapes them, after a
    # little traffic so request series exist.
    api = Service(pg.url, APP_ENV="production", METRICS_TOKEN=TOKEN, SMS_ADAPTER="log")
    api.command = ["serve", "--no-jobs"]
    runner = Service(pg.url, APP_ENV="production", METRICS_TOKEN=TOKEN, SMS_ADAPTER="log")
    runner.command = ["jobs-runner"]
    try:
        api.start()
        runner.start()
        for svc in (api, runner):
            svc.get("/healthz")
            svc.get("/v1/admin/jobs/status")
            svc.get("/v1/customers")  # refused without a key, but a client-API request
        # The runner exports its heartbeat once its first beat is in.
        wait_until(lambda: 'job_last_heartbeat_timestamp{job="jobs-runner"}' in bearer_get(runner, "/metrics"),
                   timeout=10)
        for name, svc in (("api", api), ("jobs-runner", runner)):
            scrapes[name] = bearer_get(svc, "/metrics")
    finally:
        api.stop()
        runner.stop()


def tearDownModule():
    pg.destroy()


def bearer_get(svc, path):
    status, _, body = svc.get(path, headers={"Authorization": "Bearer " + TOKEN})
    if status != 200:
        raise AssertionError(f"{path}: {status} {body[:200]!r}")
    return body.decode()


def all_samples():
    return [s for text in scrapes.values() for s in opskit.parse_scrape(text)]


def exported_names():
    return {name for name, _ in all_samples()}


def alert_rules():
    with open(os.path.join(SOURCE, "deploy/prometheus/alerts.yml")) as f:
        doc = yaml.safe_load(f)
    return [rule for group in doc["groups"] for rule in group["rules"]]


class AlertRulesMatchTheScrape(unittest.TestCase):
    # Synthesised by Prometheus for every target, never in a scrape.
    PROMETHEUS_SERIES = {"up"}

    def test_every_selector_in_every_rule_matches_a_real_series(self):
        samples = all_samples()
        checked = 0
        for rule in alert_rules():
            for name, matchers in opskit.promql_selectors(rule["expr"]):
                if name in self.PROMETHEUS_SERIES:
                    continue
                checked += 1
                with self.subTest(alert=rule["alert"], series=name, matchers=matchers):
                    self.assertIn(name, exported_names(), "the scrape has no metric of that name")
                    self.assertTrue(opskit.selector_matches(samples, name, matchers),
                                    "no series in the scrape has those labels")
        self.assertGreater(checked, 30)

    def test_each_runbook_shows_its_rule_as_it_is(self):
        def squash(text):
            return re.sub(r"\s+", "", text)
        for rule in alert_rules():
            page = re.search(r"/docs/runbooks/([a-z0-9-]+\.md)$", rule["annotations"]["runbook_url"]).group(1)
            with open(os.path.join(opskit.RUNBOOK_DIR, page)) as f:
                text = f.read()
            signal = text.split("## Alert signal", 1)[-1].split("\n## ", 1)[0]
            blocks = [body for lang, body in opskit.code_blocks(signal) if lang == "promql"]
            with self.subTest(alert=rule["alert"]):
                self.assertTrue(blocks, "no promql block under Alert signal")
                self.assertEqual(squash(blocks[0]), squash(rule["expr"]), "the page shows another expression")

    def test_every_alert_has_severity_summary_and_its_runbook(self):
        names = [r["alert"] for r in alert_rules()]
        self.assertEqual(len(names), len(set(names)), "duplicate alert names")
        for rule in alert_rules():
            with self.subTest(alert=rule["alert"]):
                self.assertIn(rule["labels"]["severity"], ("critical", "warning"))
                self.assertTrue(rule["annotations"]["summary"])
                url = rule["annotations"]["runbook_url"]
                page = re.search(r"/docs/runbooks/([a-z0-9-]+\.md)$", url)
                self.assertIsNotNone(page, url)
                path = os.path.join(opskit.RUNBOOK_DIR, page.group(1))
                self.assertTrue(os.path.exists(path), f"{url}: no such runbook page")
                with open(path) as f:
                    self.assertIn(rule["alert"], f.read(), "the page does not name its alert")

    def test_the_runbook_alerts_are_all_covered(self):
        # The alerts the on-call runbooks name: each must exist here.
        names = {r["alert"] for r in alert_rules()}
        for expected in ("ServiceNotReady", "ReadyzFailures", "HighErrorRate", "JobsRunnerStale",
                         "JobLoopFailures", "DBPoolExhaustion", "StripeWebhookErrors", "EmailJobFailures",
                         "EmailDeadLettersGrowing", "OutboxDeadLettersGrowing", "CircuitBreakerStuckOpen",
                         "BackupStale", "MigrationsNotCurrent", "DiskAlmostFull", "HighMemory",
                         "ActorRestartStorm", "SupervisorEscalation", "MailboxShedding"):
            self.assertIn(expected, names)

    def test_the_scrape_passes_promtool(self):
        import subprocess
        for name, text in scrapes.items():
            result = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
            self.assertEqual(result.returncode, 0, f"{name}: {result.stdout}{result.stderr}")


def route_templates():
    with open(os.path.join(SOURCE, "docs/openapi.yaml")) as f:
        return list(yaml.safe_load(f)["paths"])


class RunbooksMatchTheService(unittest.TestCase):
    """docs/openapi.yaml is the route table here: test_openapi proves it
    equal to the routes the code registers."""

    def setUp(self):
        self.pages = opskit.runbook_pages()
        self.assertGreater(len(self.pages), 15)

    def read(self, page):
        with open(page) as f:
            return f.read()

    def test_alert_pages_have_the_six_sections_in_order(self):
        for page in self.pages:
            if page.endswith("README.md"):
                continue
            with self.subTest(page=os.path.basename(page)):
                headings = re.findall(r"^## (.+?)\s*$", self.read(page), flags=re.M)
                self.assertEqual([h for h in headings if h in opskit.SECTIONS], opskit.SECTIONS)

    def test_every_command_is_accepted_by_the_cli(self):
        count = 0
        for page in self.pages:
            for args in opskit.cli_commands(self.read(page)):
                # Prose may say `jobs run --job <name> --once`: check its shape with a real job.
                args = [re.sub(r"^<[^>]+>$", "backup", a) for a in args]
                if any("<" in a or "$" in a for a in args):
                    continue  # a shell variable: the command's shape is checked elsewhere
                count += 1
                with self.subTest(page=os.path.basename(page), command=" ".join(args)):
                    result = run_cli(["--check"] + args, env={"DATABASE_URL": ""})
                    self.assertEqual(result.returncode, 0, result.stderr)
        self.assertGreater(count, 10)

    def test_every_route_is_served(self):
        templates = route_templates()
        count = 0
        for page in self.pages:
            for path in opskit.routes_in(self.read(page)):
                count += 1
                with self.subTest(page=os.path.basename(page), path=path):
                    self.assertTrue(any(opskit.route_matches(path, t) for t in templates),
                                    "no route in docs/openapi.yaml matches")
        self.assertGreater(count, 20)

    def test_every_metric_is_in_the_scrape(self):
        names = exported_names() | {"up"}
        count = 0
        for page in self.pages:
            for name in opskit.metric_names_in(self.read(page)):
                count += 1
                with self.subTest(page=os.path.basename(page), metric=name):
                    self.assertIn(name, names, "not exported by serve --no-jobs or jobs-runner")
        self.assertGreater(count, 30)


class ExtractorsFindWhatTheyShould(unittest.TestCase):
    """The drift checks above are only as good as these readers."""

    def test_promql_selectors(self):
        sels = opskit.promql_selectors(
            'sum by (instance) (rate(http_5xx_total{path!~"/readyz|/x"}[5m])) / on (instance) group_left '
            'max(up{job="a"}) > 0.05 and time() - job_last_success_timestamp > 900')
        self.assertEqual(sels, [("http_5xx_total", [("path", "!~", "/readyz|/x")]), ("up", [("job", "=", "a")]),
                                ("job_last_success_timestamp", [])])

    def test_runbook_readers(self):
        page = ("Run `clean-service jobs run --job <name> --once`.\n```sh\n"
                "clean-service migrate --status && curl -s \"$BASE/v1/admin/jobs/backup/run?x=1\"\n```\n"
                "Watch `db_pool_timeout_total` and `job_errors_total{job=\"backup\"}`, not `.consecutive_failures`"
                " or `event=db_pool_timeout` or `DATABASE_POOL_SIZE`.\n```promql\nrate(webhook_errors_total[5m])\n```\n")
        self.assertEqual(opskit.cli_commands(page), [["migrate", "--status"], ["jobs", "run", "--job", "<name>", "--once"]])
        self.assertEqual(opskit.routes_in(page), {"/v1/admin/jobs/backup/run"})
        self.assertEqual(opskit.metric_names_in(page), {"db_pool_timeout_total", "job_errors_total",
                                                        "webhook_errors_total"})
        self.assertTrue(opskit.route_matches("/v1/admin/jobs/backup/run", "/v1/admin/jobs/{name}/run"))
        self.assertTrue(opskit.route_matches("/v1/admin/supervisor/root/db/crash",
                                             "/v1/admin/supervisor/{path...}/crash"))
        self.assertFalse(opskit.route_matches("/v1/admin/jobs/backup/explode", "/v1/admin/jobs/{name}/run"))


def sign(secret, payload):
    stamp = str(int(time.time()))
    mac = hmac.new(secret.encode(), f"{stamp}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={stamp},v1={mac}"


class BasicMetrics(unittest.TestCase):
    def setUp(self):
        self.svc = Service(pg.url, APP_ENV="production", METRICS_TOKEN=TOKEN,
                           STRIPE_WEBHOOK_SECRET="whsec_opskit_test").start()

    def tearDown(self):
        self.svc.stop()

    def basic(self):
        return json.loads(bearer_get(self.svc, "/metrics/basic"))

    def test_token_rules_are_those_of_metrics(self):
        status, headers, body = self.svc.get("/metrics/basic")
        self.assertEqual(status, 401)
        self.assertEqual(json.loads(body)["error"]["code"], "unauthorized")
        self.assertIn("Bearer", headers.get("WWW-Authenticate", ""))
        status, _, _ = self.svc.get("/metrics/basic", headers={"Authorization": "Bearer wrong"})
        self.assertEqual(status, 401)
        status, _, _ = self.svc.get("/metrics/basic?token=" + TOKEN)
        self.assertEqual(status, 200)

    def test_summary_follows_the_counters(self):
        # The email sender and the runner publish their state once started.
        before = wait_until(lambda: (lambda b: b if "email" in b["circuits"] and "jobs-runner" in b["jobs"] else None)(
            self.basic()), timeout=10)
        self.assertIsNotNone(before, self.basic())
        for key in ("reminders", "emails", "webhooks", "dead_letters", "circuits", "jobs"):
            self.assertIn(key, before)
        self.assertEqual(before["circuits"].get("email"), "closed")
        self.assertIn("jobs-runner", before["jobs"])
        self.assertTrue(before["jobs"]["jobs-runner"]["up"])
        # A delivery with a bad signature shows up in the summary.
        payload = json.dumps({"id": "evt_opskit_1", "type": "invoice.paid", "data": {"object": {}}})
        status, _, _ = self.svc.request("POST", "/v1/webhooks/stripe", body=payload,
                                        headers={"Content-Type": "application/json",
                                                 "Stripe-Signature": sign("whsec_wrong", payload)})
        self.assertEqual(status, 400)
        after = self.basic()
        self.assertEqual(after["webhooks"]["invalid_signature"], before["webhooks"]["invalid_signature"] + 1)
        # Dead-letter depths come from the database.
        pg.psql("INSERT INTO outbox_events (kind, dedupe_key, payload, status) VALUES ('webhook', 'opskit-dead-1', '{}', 'dead')")
        self.assertTrue(wait_until(lambda: self.basic()["dead_letters"]["outbox"]["dead"] >= 1, timeout=12))


if __name__ == "__main__":
    unittest.main()
