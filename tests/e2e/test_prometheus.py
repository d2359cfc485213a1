"""Debian's real Prometheus scrapes the service with a bearer token from a
file, the way deploy/prometheus/prometheus.yml sets it up: the target is
`up`, the service's own `job` labels survive (honor_labels), and the alert
rules load, evaluate cleanly and stay quiet for a healthy service."""

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.parse
import urllib.request

from harness import Service, migrated_postgres, wait_until

TOKEN = "prom-scrape-token-1234"
pg = None


def setUpModule():
    global pg
    pg = migrated_postgres()


def tearDownModule():
    pg.destroy()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrometheusScrape(unittest.TestCase):
    def setUp(self):
        self.prometheus = shutil.which("prometheus") or "/usr/bin/prometheus"
        self.dir = tempfile.mkdtemp(prefix="clean-e2e-prom-")
        self.svc = Service(pg.url, APP_ENV="production", METRICS_TOKEN=TOKEN).start()
        self.proc = None

    def tearDown(self):
        if self.proc:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.svc.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def start_prometheus(self, token):
        token_file = os.path.join(self.dir, "token")
        with open(token_file, "w") as f:
            f.write(token + "\n")
        deploy = os.path.join(os.path.dirname(__file__), "../../deploy/prometheus")
        with open(os.path.join(deploy, "prometheus.yml")) as f:
            template = f.read()
        config = (template.replace("/etc/prometheus/clean-service.token", token_file)
                  .replace("127.0.0.1:8080", f"127.0.0.1:{self.svc.port}")
                  .replace("scrape_interval: 15s", "scrape_interval: 1s")
                  .replace("evaluation_interval: 15s", "evaluation_interval: 1s"))
        self.assertNotEqual(config, template)
        shutil.copy(os.path.join(deploy, "alerts.yml"), os.path.join(self.dir, "alerts.yml"))
        config_file = os.path.join(self.dir, "prometheus.yml")
        with open(config_file, "w") as f:
            f.write(config)
        self.port = free_port()
        self.proc = subprocess.Popen([self.prometheus, f"--config.file={config_file}",
                                      f"--storage.tsdb.path={self.dir}/data",
                                      f"--web.listen-address=127.0.0.1:{self.port}"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def target(self):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/api/v1/targets", timeout=2) as r:
                targets = json.load(r)["data"]["activeTargets"]
        except OSError:
            return None
        if not targets or targets[0]["health"] == "unknown":
            return None
        return targets[0]

    def api(self, path, **params):
        url = f"http://127.0.0.1:{self.port}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        with urllib.request.urlopen(url, timeout=5) as r:
            return json.load(r)["data"]

    def query(self, expr):
        return self.api("query", query=expr)["result"]

    def test_scrape_with_token_is_up(self):
        self.start_prometheus(TOKEN)
        target = wait_until(self.target, timeout=60, interval=0.5)
        self.assertIsNotNone(target, "Prometheus never scraped the service")
        self.assertEqual(target["health"], "up", target.get("lastError"))
        up = self.query('up{job="clean-service"}')
        self.assertEqual([float(s["value"][1]) for s in up], [1.0])

        # honor_labels: the runner's heartbeat keeps job="jobs-runner"; nothing
        # was renamed to exported_job (which would blind JobsRunnerStale).
        heartbeat = self.query('job_last_heartbeat_timestamp{job="jobs-runner"}')
        self.assertEqual(len(heartbeat), 1, heartbeat)
        self.assertEqual(self.query('count({exported_job!=""})'), [])
        # Series without a job label of their own get the scrape job's.
        self.assertEqual(len(self.query('http_5xx_total{job="clean-service",path="/readyz"}')), 1)

        # The alert rules load, evaluate without errors, and a healthy
        # service fires none of them (no false alarm from series that start
        # at zero, such as backup_last_success_timestamp).
        def evaluated():
            groups = self.api("rules")["groups"]
            rules = [r for g in groups for r in g["rules"]]
            return rules if rules and all(r.get("lastEvaluation", "").startswith("20") for r in rules) else None

        rules = wait_until(evaluated, timeout=30, interval=0.5)
        self.assertIsNotNone(rules, "the alert rules were never evaluated")
        self.assertGreaterEqual(len(rules), 20)
        for rule in rules:
            self.assertEqual(rule["health"], "ok", (rule["name"], rule.get("lastError")))
        time.sleep(3)  # a few more evaluations with real samples
        active = [(a["labels"]["alertname"], a["state"]) for a in self.api("alerts")["alerts"]]
        self.assertEqual(active, [], "alerts active for a healthy service")

    def test_scrape_with_wrong_token_is_down_with_401(self):
        self.start_prometheus("not-the-token")
        target = wait_until(self.target, timeout=60, interval=0.5)
        self.assertIsNotNone(target, "Prometheus never scraped the service")
        self.assertEqual(target["health"], "down")
        self.assertIn("401", target["lastError"])


if __name__ == "__main__":
    unittest.main()
