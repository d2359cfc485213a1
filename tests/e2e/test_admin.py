"""The admin surface end to end: Basic auth in every case, the per-address
throttle, read-only mode, break-glass sessions (start, use, list, end,
expiry, TTL cap), the audit log, production start-up refusal, and that no
password or token ever reaches the logs or /metrics."""

import base64
import hashlib
import json
import time
import unittest

from harness import ADMIN_PASSWORD, ADMIN_USER, Service, basic_auth, metric, migrated_postgres, run_cli, wait_until

pg = None
# Every secret a test sends; none may show up in any captured output.
SECRETS = {ADMIN_PASSWORD, base64.b64encode((ADMIN_USER + ":" + ADMIN_PASSWORD).encode()).decode()}
WRONG_PASSWORD = "not-the-password-31337"
SECRETS.add(WRONG_PASSWORD)
services = []


def setUpModule():
    global pg
    pg = migrated_postgres()


def tearDownModule():
    for s in services:
        s.stop()
    pg.destroy()


def start(**env):
    svc = Service(pg.url, **env).start()
    services.append(svc)
    return svc


def call(svc, method, path, body=None, headers=None):
    h = dict(headers or {})
    if body is not None:
        h["Content-Type"] = "application/json"
        body = body if isinstance(body, str) else json.dumps(body)
    status, res_headers, data = svc.request(method, path, body=body, headers=h)
    return status, res_headers, (json.loads(data) if data else None)


def error_code(body):
    return body["error"]["code"]


def start_session(svc, reason="INC-1 investigating", ttl=None, headers=None):
    body = {"reason": reason}
    if ttl is not None:
        body["ttl_minutes"] = ttl
    status, _, session = call(svc, "POST", "/v1/admin/break-glass/start", body, headers)
    assert status == 201, (status, session)
    SECRETS.add(session["token"])
    return session


class AuthenticationTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.svc = start(ADMIN_AUTH_MAX_FAILURES=1000)

    def test_every_credential_case(self):
        cases = [
            ("none", {}, 401),
            ("wrong user", {"Authorization": basic_auth(user="root")}, 401),
            ("wrong password", {"Authorization": basic_auth(password=WRONG_PASSWORD)}, 401),
            ("both wrong", {"Authorization": basic_auth(user="root", password=WRONG_PASSWORD)}, 401),
            ("empty password", {"Authorization": basic_auth(password="")}, 401),
            ("not base64", {"Authorization": "Basic !!!"}, 401),
            ("bearer scheme", {"Authorization": "Bearer " + ADMIN_PASSWORD}, 401),
            ("unknown break-glass token alone", {"X-Break-Glass-Token": "bg_" + "A" * 43}, 401),
            ("right", {"Authorization": basic_auth()}, 200),
        ]
        for name, headers, expected in cases:
            with self.subTest(case=name):
                if not headers:
                    headers = {"Authorization": ""}  # keep the harness from adding credentials
                status, res_headers, body = call(self.svc, "GET", "/v1/admin/supervisor", headers=headers)
                self.assertEqual(status, expected, body)
                if expected == 401:
                    self.assertEqual(error_code(body), "unauthorized")
                    self.assertTrue(res_headers["WWW-Authenticate"].startswith('Basic realm="clean-service admin"'))

    def test_every_admin_route_is_guarded(self):
        status, _, catalogue = call(self.svc, "GET", "/v1/admin")
        self.assertEqual(status, 200)
        paths = {(r["method"], r["path"]) for r in catalogue["routes"]}
        for expected in [("GET", "/v1/admin"), ("GET", "/v1/admin/supervisor"),
                         ("POST", "/v1/admin/supervisor/{path...}/crash"), ("POST", "/v1/admin/break-glass/start"),
                         ("GET", "/v1/admin/break-glass"), ("POST", "/v1/admin/break-glass/{id}/end"),
                         ("GET", "/v1/admin/audit")]:
            self.assertIn(expected, paths)
        self.assertEqual(catalogue["caller"]["user"], ADMIN_USER)
        for route in catalogue["routes"]:
            path = route["path"].replace("{path...}", "root/http/health").replace("{id}", "1")
            with self.subTest(route=route["method"] + " " + path):
                status, _, body = call(self.svc, route["method"], path, body={} if route["method"] == "POST" else None,
                                       headers={"Authorization": ""})
                self.assertEqual(status, 401, body)

    def test_failures_are_counted_and_logged_without_secrets(self):
        before = metric(self.svc, "admin_requests_total", outcome="unauthorized", route="/v1/admin") or 0
        call(self.svc, "GET", "/v1/admin", headers={"Authorization": basic_auth(password=WRONG_PASSWORD)})
        self.assertEqual(metric(self.svc, "admin_requests_total", outcome="unauthorized", route="/v1/admin"),
                         before + 1)
        self.assertTrue(wait_until(lambda: any(e.get("reason") == "wrong_credentials"
                                               for e in self.svc.events("admin_auth_failed"))))


class ThrottleTest(unittest.TestCase):
    def test_repeated_failures_from_one_address_get_429(self):
        svc = start(ADMIN_AUTH_MAX_FAILURES=3, ADMIN_AUTH_LOCKOUT_SECONDS=2)
        wrong = {"Authorization": basic_auth(password=WRONG_PASSWORD)}
        for _ in range(3):
            self.assertEqual(call(svc, "GET", "/v1/admin", headers=wrong)[0], 401)
        # Locked out: even the right credentials wait.
        status, headers, body = call(svc, "GET", "/v1/admin")
        self.assertEqual(status, 429, body)
        self.assertEqual(error_code(body), "too_many_failed_logins")
        self.assertIn(int(headers["Retry-After"]), (1, 2))
        self.assertGreaterEqual(metric(svc, "admin_requests_total", outcome="throttled", route="/v1/admin"), 1)
        time.sleep(int(headers["Retry-After"]) + 0.1)
        self.assertEqual(call(svc, "GET", "/v1/admin")[0], 200)
        # A success clears the count: two more failures do not lock out.
        for _ in range(2):
            self.assertEqual(call(svc, "GET", "/v1/admin", headers=wrong)[0], 401)
        self.assertEqual(call(svc, "GET", "/v1/admin")[0], 200)

    def test_a_valid_token_does_not_clear_failed_logins(self):
        svc = start(ADMIN_AUTH_MAX_FAILURES=3, ADMIN_AUTH_LOCKOUT_SECONDS=30)
        session = start_session(svc, reason="INC-13")
        wrong = {"Authorization": basic_auth(password=WRONG_PASSWORD)}
        alone = {"X-Break-Glass-Token": session["token"]}
        for _ in range(2):
            self.assertEqual(call(svc, "GET", "/v1/admin", headers=wrong)[0], 401)
            self.assertEqual(call(svc, "GET", "/v1/admin", headers=alone)[0], 200)
        # Token requests between the guesses did not reset them: the third locks out.
        self.assertEqual(call(svc, "GET", "/v1/admin", headers=wrong)[0], 401)
        self.assertEqual(call(svc, "GET", "/v1/admin", headers=wrong)[0], 429)


class ReadOnlyAndBreakGlassTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.svc = start(ADMIN_READ_ONLY="true", FAULT_INJECTION=1, BREAK_GLASS_MAX_TTL_MINUTES=5)

    def crash(self, headers=None):
        return call(self.svc, "POST", "/v1/admin/supervisor/root/http/health/crash", headers=headers)

    def audit(self, **query):
        qs = "&".join("%s=%s" % kv for kv in query.items())
        status, _, body = call(self.svc, "GET", "/v1/admin/audit" + ("?" + qs if qs else ""))
        self.assertEqual(status, 200, body)
        return body

    def wait_running(self, path="root/http/health"):
        def running():
            status, _, tree = self.svc.get_json("/v1/admin/supervisor")
            stack = [tree]
            while stack:
                node = stack.pop()
                if node.get("path") == path:
                    return node.get("state") == "running"
                stack.extend(node.get("children", []))
            return False
        self.assertTrue(wait_until(running, timeout=10))

    def test_writes_are_refused_and_audited(self):
        status, _, body = self.crash(headers={"X-Audit-Reason": "trying a drill"})
        self.assertEqual(status, 403, body)
        self.assertEqual(error_code(body), "read_only_mode")
        row = self.audit(limit=1)["data"][0]
        self.assertEqual(row["outcome"], "read_only")
        self.assertEqual(row["status"], 403)
        self.assertEqual(row["actor"], ADMIN_USER)
        self.assertEqual(row["target"], "root/http/health")
        self.assertEqual(row["reason"], "trying a drill")
        self.assertIsNone(row["break_glass_session_id"])
        # Reads still work in read-only mode.
        self.assertEqual(call(self.svc, "GET", "/v1/admin/supervisor")[0], 200)

    def test_break_glass_allows_a_write_and_every_step_is_audited(self):
        session = start_session(self.svc, reason="INC-7 email stuck", ttl=3)
        self.assertTrue(session["token"].startswith("bg_"))
        self.assertEqual(session["ttl_minutes"], 3)
        self.assertFalse(session["ttl_capped"])
        self.assertEqual(session["state"], "active")
        # Only the hash is stored.
        stored = pg.psql("SELECT token_hash FROM break_glass_sessions WHERE id = %d" % session["id"])
        self.assertEqual(stored, hashlib.sha256(session["token"].encode()).hexdigest())
        self.assertEqual(pg.psql("SELECT count(*) FROM break_glass_sessions WHERE token_hash = '%s'"
                                 % session["token"]), "0")

        self.wait_running()
        token = {"X-Break-Glass-Token": session["token"], "Authorization": basic_auth()}
        status, _, body = self.crash(headers=token)
        self.assertEqual(status, 202, body)
        row = self.audit(limit=1)["data"][0]
        self.assertEqual((row["action"], row["status"], row["outcome"]),
                         ("POST /v1/admin/supervisor/{path...}/crash", 202, "success"))
        self.assertEqual(row["break_glass_session_id"], session["id"])
        self.assertEqual(row["reason"], "INC-7 email stuck")
        self.assertEqual(row["actor"], ADMIN_USER)
        logged = [e for e in self.svc.events("admin_audit") if e.get("break_glass_session_id") == session["id"]]
        self.assertTrue(logged)

        # The runbook's way: the token alone, as the session's owner.
        self.wait_running()
        status, _, body = self.crash(headers={"X-Break-Glass-Token": session["token"]})
        self.assertEqual(status, 202, body)
        self.assertEqual(self.audit(limit=1)["data"][0]["actor"], ADMIN_USER)

        status, _, listed = call(self.svc, "GET", "/v1/admin/break-glass")
        self.assertEqual(status, 200)
        mine = [s for s in listed["data"] if s["id"] == session["id"]]
        self.assertEqual(len(mine), 1)
        self.assertEqual(mine[0]["uses"], 2)
        self.assertNotIn("token", mine[0])
        self.assertNotIn(session["token"], json.dumps(listed))

        actions = [r["action"] for r in self.audit(limit=200)["data"]
                   if r["break_glass_session_id"] == session["id"]]
        self.assertIn("break_glass.start", actions)

        # Ended early: the token stops working; ending twice is a conflict.
        status, _, ended = call(self.svc, "POST", "/v1/admin/break-glass/%d/end" % session["id"])
        self.assertEqual(status, 200, ended)
        self.assertEqual(ended["state"], "ended")
        self.assertEqual(ended["ended_by"], ADMIN_USER)
        status, _, body = self.crash(headers=token)
        self.assertEqual((status, error_code(body)), (403, "break_glass_ended"))
        status, _, body = self.crash(headers={"X-Break-Glass-Token": session["token"]})
        self.assertEqual((status, error_code(body)), (403, "break_glass_ended"))
        status, _, body = call(self.svc, "POST", "/v1/admin/break-glass/%d/end" % session["id"])
        self.assertEqual((status, error_code(body)), (409, "break_glass_not_active"))
        actions = [r["action"] for r in self.audit(limit=200)["data"]
                   if r["break_glass_session_id"] == session["id"]]
        self.assertIn("break_glass.end", actions)
        self.assertEqual(call(self.svc, "POST", "/v1/admin/break-glass/999999/end")[0], 404)

    def test_expired_tokens_are_refused(self):
        session = start_session(self.svc, reason="INC-8", ttl=1)
        pg.psql("UPDATE break_glass_sessions SET started_at = now() - interval '2 minutes', "
                "expires_at = now() - interval '1 second' WHERE id = %d" % session["id"])
        for headers in ({"X-Break-Glass-Token": session["token"], "Authorization": basic_auth()},
                        {"X-Break-Glass-Token": session["token"]}):
            status, _, body = self.crash(headers=headers)
            self.assertEqual((status, error_code(body)), (403, "break_glass_expired"))
        status, _, listed = call(self.svc, "GET", "/v1/admin/break-glass")
        self.assertNotIn(session["id"], [s["id"] for s in listed["data"]])
        status, _, everything = call(self.svc, "GET", "/v1/admin/break-glass?all=true")
        states = {s["id"]: s["state"] for s in everything["data"]}
        self.assertEqual(states[session["id"]], "expired")

    def test_unknown_token_with_basic_auth_is_forbidden(self):
        status, _, body = self.crash(headers={"X-Break-Glass-Token": "bg_" + "B" * 43, "Authorization": basic_auth()})
        self.assertEqual((status, error_code(body)), (403, "break_glass_invalid"))

    def test_ttl_is_capped(self):
        session = start_session(self.svc, reason="INC-9", ttl=600)
        self.assertEqual(session["ttl_minutes"], 5)
        self.assertTrue(session["ttl_capped"])
        lifetime = pg.psql("SELECT extract(epoch FROM expires_at - started_at)::int FROM break_glass_sessions "
                           "WHERE id = %d" % session["id"])
        self.assertEqual(int(lifetime), 300)
        default = start_session(self.svc, reason="INC-9 default")
        self.assertEqual(default["ttl_minutes"], 5)
        for bad in ({}, {"reason": " "}, {"reason": "x", "ttl_minutes": 0}, {"reason": "x", "ttl_minutes": "60"}):
            status, _, body = call(self.svc, "POST", "/v1/admin/break-glass/start", bad)
            self.assertEqual((status, error_code(body)), (422, "validation_failed"), bad)
        status, _, body = call(self.svc, "POST", "/v1/admin/break-glass/start", "not json")
        self.assertEqual((status, error_code(body)), (400, "invalid_json"))

    def test_a_token_cannot_start_another_session(self):
        session = start_session(self.svc, reason="INC-10")
        status, _, body = call(self.svc, "POST", "/v1/admin/break-glass/start", {"reason": "extend"},
                               headers={"X-Break-Glass-Token": session["token"]})
        self.assertEqual((status, error_code(body)), (403, "basic_auth_required"))

    def test_a_token_alone_is_audited_on_reads_and_ends_only_its_own_session(self):
        mine = start_session(self.svc, reason="INC-12 mine")
        other = start_session(self.svc, reason="INC-12 other")
        alone = {"X-Break-Glass-Token": mine["token"]}
        self.assertEqual(call(self.svc, "GET", "/v1/admin/supervisor", headers=alone)[0], 200)
        actions = [r["action"] for r in self.audit(limit=50)["data"] if r["break_glass_session_id"] == mine["id"]]
        self.assertIn("GET /v1/admin/supervisor", actions)
        status, _, body = call(self.svc, "POST", "/v1/admin/break-glass/%d/end" % other["id"], headers=alone)
        self.assertEqual((status, error_code(body)), (403, "break_glass_not_yours"))
        status, _, body = call(self.svc, "POST", "/v1/admin/break-glass/%d/end" % mine["id"], headers=alone)
        self.assertEqual((status, body["state"]), (200, "ended"))
        self.assertEqual(call(self.svc, "POST", "/v1/admin/break-glass/%d/end" % other["id"])[0], 200)

    def test_a_refused_token_on_a_write_is_audited(self):
        status, _, body = self.crash(headers={"X-Break-Glass-Token": "bg_" + "C" * 43, "Authorization": basic_auth()})
        self.assertEqual((status, error_code(body)), (403, "break_glass_invalid"))
        row = self.audit(limit=1)["data"][0]
        self.assertEqual((row["status"], row["outcome"], row["actor"]), (403, "forbidden", ADMIN_USER))

    def test_active_sessions_gauge_follows_the_database(self):
        session = start_session(self.svc, reason="INC-11")
        count = lambda: int(pg.psql("SELECT count(*) FROM break_glass_sessions "
                                    "WHERE ended_at IS NULL AND expires_at > now()"))
        self.assertTrue(wait_until(lambda: metric(self.svc, "break_glass_sessions_active") == count(),
                                   timeout=5))
        call(self.svc, "POST", "/v1/admin/break-glass/%d/end" % session["id"])
        self.assertTrue(wait_until(lambda: metric(self.svc, "break_glass_sessions_active") == count(),
                                   timeout=5))

    def test_audit_pages_newest_first(self):
        for i in range(3):
            start_session(self.svc, reason="INC-page-%d" % i)
        first = self.audit(limit=2)
        self.assertEqual(len(first["data"]), 2)
        self.assertIsNotNone(first["next_cursor"])
        second = self.audit(limit=2, cursor=first["next_cursor"])
        ids = [r["id"] for r in first["data"] + second["data"]]
        self.assertEqual(ids, sorted(ids, reverse=True))
        self.assertEqual(len(set(ids)), len(ids))
        status, _, body = call(self.svc, "GET", "/v1/admin/audit?limit=500")
        self.assertEqual(status, 422)


class DisabledAndProductionTest(unittest.TestCase):
    def test_development_without_credentials_turns_admin_off(self):
        svc = start(ADMIN_BASIC_USERNAME="", ADMIN_BASIC_PASSWORD="")
        status, _, body = call(svc, "GET", "/v1/admin/supervisor")
        self.assertEqual((status, error_code(body)), (403, "admin_disabled"))
        self.assertTrue(svc.events("admin_disabled"))

    def test_production_refuses_to_start_with_unset_or_weak_credentials(self):
        base = {"APP_ENV": "production", "DATABASE_URL": pg.url, "PORT": "0", "METRICS_TOKEN": "t"}
        for creds, variable in (({"ADMIN_BASIC_USERNAME": "", "ADMIN_BASIC_PASSWORD": ""}, "ADMIN_BASIC_USERNAME"),
                                ({"ADMIN_BASIC_USERNAME": "oncall", "ADMIN_BASIC_PASSWORD": "short-pass"},
                                 "ADMIN_BASIC_PASSWORD")):
            with self.subTest(missing=variable):
                result = run_cli(["serve"], env=dict(base, **creds), timeout=20)
                self.assertEqual(result.returncode, 2, result.stderr)
                self.assertIn(variable, result.stderr)
                self.assertNotIn("short-pass", result.stderr + result.stdout)

    def test_production_with_strong_credentials_serves_admin(self):
        svc = start(APP_ENV="production", METRICS_TOKEN="t")
        self.assertEqual(call(svc, "GET", "/v1/admin")[0], 200)
        self.assertEqual(call(svc, "GET", "/v1/admin", headers={"Authorization": ""})[0], 401)


class ZSecretsTest(unittest.TestCase):
    """Runs last (alphabetically after the others): every secret any test
    sent must be absent from every line any service logged and from
    /metrics."""

    def test_zz_no_secret_in_logs_or_metrics(self):
        self.assertGreater(len(SECRETS), 3, "the break-glass tests should have added their tokens")
        for svc in services:
            if svc.proc.poll() is not None:
                continue
            metrics = svc.get("/metrics", headers={"Authorization": "Bearer t"})[2].decode()
            for secret in SECRETS:
                self.assertNotIn(secret, metrics)
        for svc in services:
            logs = "\n".join(svc.lines)
            self.assertTrue(logs)
            for secret in SECRETS:
                self.assertNotIn(secret, logs)


if __name__ == "__main__":
    unittest.main()
