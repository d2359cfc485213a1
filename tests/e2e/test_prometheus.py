"""Debian's real Prometheus scrapes the service with a bearer token from a
file, the way deploy/prometheus.yml sets it up, and sees it `up`."""

import json
import os
import shutil
import socket
import subprocess
import tempfile
import unittest
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
        template = open(os.path.join(os.path.dirname(__file__), "../../deploy/prometheus.yml")).read()
        config = (template.replace("/etc/prometheus/clean-service.token", token_file)
                  .replace("127.0.0.1:8080", f"127.0.0.1:{self.svc.port}")
                  .replace("scrape_interval: 15s", "scrape_interval: 1s"))
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

    def test_scrape_with_token_is_up(self):
        self.start_prometheus(TOKEN)
        target = wait_until(self.target, timeout=60, interval=0.5)
        self.assertIsNotNone(target, "Prometheus never scraped the service")
        self.assertEqual(target["health"], "up", target.get("lastError"))

    def test_scrape_with_wrong_token_is_down_with_401(self):
        self.start_prometheus("not-the-token")
        target = wait_until(self.target, timeout=60, interval=0.5)
        self.assertIsNotNone(target, "Prometheus never scraped the service")
        self.assertEqual(target["health"], "down")
        self.assertIn("401", target["lastError"])


if __name__ == "__main__":
    unittest.main()
