"""The promtool tests in deploy/prometheus/alerts*_test.yml have teeth: each
threshold, duration and filter of alerts.yml, changed on its own, makes
them fail. (A rule its tests cannot tell from a broken one is untested.)"""

import os
import shutil
import subprocess
import tempfile
import unittest

from harness import SOURCE

RULES = os.path.join(SOURCE, "deploy", "prometheus")
TEST_FILES = ("alerts_test.yml", "alerts_backup_test.yml")

# (text in alerts.yml, what it is changed to): each must break a test.
MUTATIONS = [
    ('up{job="clean-service"} == 0\n        for: 2m', 'up{job="clean-service"} == 0\n        for: 0m'),
    ('check!="migrations"', 'check!="none"'),
    ('increase(http_5xx_total{path="/readyz"}[5m])) > 0\n        for: 5m',
     'increase(http_5xx_total{path="/readyz"}[5m])) > 0\n        for: 1m'),
    ('          ) > 0.05\n', '          ) > 0.02\n'),
    ('path!~"/healthz|/livez|/readyz|/metrics.*"}[5m])) > 0.05', 'path!~"/healthz|/livez|/readyz|/metrics.*"}[5m])) > 0'),
    ('path!~"/v1/admin.*"', 'path!~"/none"'),
    ('db_pool_timeout_total[5m])) > 3', 'db_pool_timeout_total[5m])) > 1'),
    ('< max by (instance) (schema_migrations_version{state="head"})',
     '!= max by (instance) (schema_migrations_version{state="head"})'),
    ('or job_runner_up{job="jobs-runner"} == 0', ''),
    ('or absent(job_last_heartbeat_timestamp{job="jobs-runner"})', ''),
    ('increase(job_errors_total[15m])) > 0', 'increase(job_errors_total[15m])) >= 0'),
    ('(time() - job_last_success_timestamp) > 900', '(time() - job_last_success_timestamp) > -1'),
    ('expr: job_overdue == 1\n        for: 10m', 'expr: job_overdue == 1\n        for: 3m'),
    ('> 26 * 3600', '> 20 * 3600'),
    ('(backup_last_success_timestamp > 0)', 'backup_last_success_timestamp'),
    ('(process_start_time_seconds and on (instance) backup_last_success_timestamp)', 'process_start_time_seconds'),
    ('and storage_size_bytes > 0', 'or storage_size_bytes == 0'),
    ('(1 - storage_free_bytes / storage_size_bytes) > 0.85', '(1 - storage_free_bytes / storage_size_bytes) > 0.75'),
    ('status="error"}[15m])) >= 5', 'status="error"}[15m])) >= 2'),
    ('max without (instance) (delta(email_dlq', 'sum without (instance) (delta(email_dlq'),
    (' - delta(email_dlq_messages{status="dead"}[15m])', ''),
    ('min_over_time(circuit_state{circuit!="stripe_api"}[15m]) >= 1',
     'max_over_time(circuit_state{circuit!="stripe_api"}[15m]) >= 1'),
    ('{circuit!="stripe_api"}[15m]', '[15m]'),
    ('increase(circuit_transitions_total{to="open"}[15m]) > 0',
     'increase(circuit_transitions_total{to=~"open|forced_open"}[15m]) >= 0'),
    (') > 0.10', ') > 0.05'),
    ('increase(webhook_events_total[10m])) >= 10', 'increase(webhook_events_total[10m])) >= 1'),
    ('increase(stripe_webhook_circuit_open_total[10m])) > 0', 'increase(stripe_webhook_circuit_open_total[30m])) > 0'),
    ('process_resident_memory_bytes / process_memory_limit_bytes > 0.85',
     'process_resident_memory_bytes / process_memory_limit_bytes > 0.75'),
    ('actor_restarts_total[5m])) > 5', 'actor_restarts_total[5m])) > 3'),
    ('increase(supervisor_escalations_total[10m])) > 0', 'increase(supervisor_escalations_total[10m])) > 1'),
    ('actor_messages_shed_total[5m])) > 10', 'actor_messages_shed_total[5m])) > 2'),
]


class AlertTestsCatchBrokenRules(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="clean-alert-mutations-")
        for tests in TEST_FILES:
            shutil.copy(os.path.join(RULES, tests), self.dir)
        with open(os.path.join(RULES, "alerts.yml")) as f:
            self.rules = f.read()

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def promtool(self, *args):
        return subprocess.run(["promtool", *args], cwd=self.dir, capture_output=True, text=True, timeout=60)

    def test_every_mutation_is_caught(self):
        with open(os.path.join(self.dir, "alerts.yml"), "w") as f:
            f.write(self.rules)
        self.assertEqual(self.promtool("test", "rules", *TEST_FILES).returncode, 0, "unmutated rules fail")
        for old, new in MUTATIONS:
            with self.subTest(change=old.strip()):
                self.assertEqual(self.rules.count(old), 1, "the text to change must occur once")
                with open(os.path.join(self.dir, "alerts.yml"), "w") as f:
                    f.write(self.rules.replace(old, new))
                self.assertEqual(self.promtool("check", "rules", "alerts.yml").returncode, 0, "mutant is invalid")
                self.assertNotEqual(self.promtool("test", "rules", *TEST_FILES).returncode, 0,
                                    "the tests pass with this change")


if __name__ == "__main__":
    unittest.main()
