"""The client API end to end against a real PostgreSQL: every route's success
and error cases, API keys, idempotent retries, keyset pagination, and
concurrent state changes."""

import base64
import concurrent.futures
import json
import re
import time
import unittest

from harness import Api, Service, create_api_key, metric, migrated_postgres, read_http_response, run_cli, wait_until

pg = None
svc = None
api = None


def setUpModule():
    global pg, svc, api
    pg = migrated_postgres()
    try:
        # A short key cache so the revocation test does not wait long.
        svc = Service(pg.url, API_KEY_CACHE_SECONDS="0.3").start()
        api = Api(svc, create_api_key(pg.url))
    except Exception:
        if svc:
            svc.stop()
        pg.destroy()
        raise


def tearDownModule():
    svc.stop()
    pg.destroy()


RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def fields_of(error_body):
    return {f["field"] for f in error_body["error"].get("fields", [])}


class ApiKeyTest(unittest.TestCase):
    def test_missing_key_is_401_with_a_challenge(self):
        status, headers, data = svc.request("GET", "/v1/customers")
        self.assertEqual(status, 401)
        self.assertIn("Bearer", headers["WWW-Authenticate"])
        self.assertEqual(json.loads(data)["error"]["code"], "unauthorized")

    def test_wrong_or_malformed_key_is_401(self):
        for header in ("Bearer csk_wrong", "Basic dXNlcjpwYXNz", "Bearer ", "csk_nobearer"):
            status, headers, data = svc.request("GET", "/v1/customers", headers={"Authorization": header})
            self.assertEqual(status, 401, header)
            self.assertEqual(json.loads(data)["error"]["code"], "invalid_api_key")
            self.assertIn('error="invalid_token"', headers["WWW-Authenticate"])

    def test_unauthenticated_requests_learn_nothing_about_the_body(self):
        status, _, data = svc.request("POST", "/v1/customers", body="{not json",
                                      headers={"Content-Type": "application/json"})
        self.assertEqual(status, 401)

    def test_only_the_hash_is_stored_and_revocation_takes_effect(self):
        key = create_api_key(pg.url, "to-revoke")
        self.assertTrue(key.startswith("csk_"))
        self.assertEqual(pg.psql("SELECT count(*) FROM api_keys WHERE key_hash = '%s'" % key), "0")
        self.assertEqual(api.get("/v1/customers?limit=1", key=key)[0], 200)
        listing = run_cli(["api-keys", "list"], env={"DATABASE_URL": pg.url})
        self.assertEqual(listing.returncode, 0, listing.stderr)
        self.assertIn("to-revoke", listing.stdout)
        self.assertNotIn(key, listing.stdout)
        key_id = pg.psql("SELECT id FROM api_keys WHERE name = 'to-revoke'")
        revoked = run_cli(["api-keys", "revoke", key_id], env={"DATABASE_URL": pg.url})
        self.assertEqual(revoked.returncode, 0, revoked.stderr)
        # Trusted from the cache for at most API_KEY_CACHE_SECONDS (0.3 here).
        self.assertTrue(wait_until(lambda: api.get("/v1/customers?limit=1", key=key)[0] == 401, timeout=5))
        again = run_cli(["api-keys", "revoke", key_id], env={"DATABASE_URL": pg.url})
        self.assertEqual(again.returncode, 1)

    def test_cli_rejects_bad_usage(self):
        self.assertEqual(run_cli(["api-keys", "create"], env={"DATABASE_URL": pg.url}).returncode, 2)
        self.assertEqual(run_cli(["api-keys", "revoke", "abc"], env={"DATABASE_URL": pg.url}).returncode, 2)
        self.assertEqual(run_cli(["api-keys", "frobnicate"], env={"DATABASE_URL": pg.url}).returncode, 2)


class CustomersTest(unittest.TestCase):
    def test_create_read_and_list(self):
        c = api.customer(name="Grace Hopper", email="grace@example.com", phone="+1 555 0100")
        for k in ("id", "status", "created_at"):
            self.assertIn(k, c)
        self.assertEqual(c["status"], "active")
        self.assertRegex(c["created_at"], RFC3339_UTC)
        status, _, got = api.get("/v1/customers/%d" % c["id"])
        self.assertEqual(status, 200)
        self.assertEqual(got, c)
        status, _, page = api.get("/v1/customers?limit=100")
        self.assertEqual(status, 200)
        self.assertIn(c["id"], [x["id"] for x in page["data"]])

    def test_validation_errors_list_every_field(self):
        status, _, data = api.post("/v1/customers", {"name": "", "email": "nope", "phone": 42})
        self.assertEqual(status, 422)
        self.assertEqual(data["error"]["code"], "validation_failed")
        self.assertEqual(fields_of(data), {"name", "email", "phone"})

    def test_bad_json_is_400(self):
        for body in ("{", "[]", '"text"'):
            status, _, data = api.post("/v1/customers", body)
            self.assertEqual(status, 400, body)
            self.assertEqual(data["error"]["code"], "invalid_json")

    def test_unknown_ids_are_404(self):
        for path in ("/v1/customers/999999", "/v1/customers/abc", "/v1/customers/0"):
            status, _, data = api.get(path)
            self.assertEqual(status, 404, path)
            self.assertEqual(data["error"]["code"], "not_found")


class ReadBatchTest(unittest.TestCase):
    """Reads by id that arrive together go to the database as one statement;
    each must still get exactly the answer it would get alone."""

    def burst(self, paths):
        socks = [svc.connect() for _ in paths]
        try:
            for s, path in zip(socks, paths):
                s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n"
                           % (path, api.key)).encode())
            return [read_http_response(s)[:3] for s in socks]
        finally:
            for s in socks:
                s.close()

    def test_a_burst_of_mixed_reads_gets_each_its_own_answer(self):
        c = api.customer(name="Batch Reader")
        b = api.booking(c["id"])
        expected = {"/v1/customers/%d" % c["id"]: (200, c),
                    "/v1/bookings/%d" % b["id"]: (200, b),
                    "/v1/bookings/99999999": (404, None),
                    "/v1/invoices/99999998": (404, None),
                    "/v1/bookings/abc": (404, None)}
        paths = [p for _ in range(12) for p in expected]
        statements_before = metric(svc, "db_query_duration_seconds_count", query="bookings.get") or 0
        for attempt in range(3):
            for path, (status, headers, body) in zip(paths, self.burst(paths)):
                want_status, want_body = expected[path]
                self.assertEqual(status, want_status, path)
                self.assertEqual(headers["content-type"], "application/json")
                data = json.loads(body)
                if want_body is not None:
                    self.assertEqual(data, want_body, path)
                else:
                    self.assertEqual(data["error"]["code"], "not_found", path)
                    if path[-1].isdigit():
                        self.assertIn("with id " + path.rsplit("/", 1)[1], data["error"]["message"])
        statements = metric(svc, "db_query_duration_seconds_count", query="bookings.get") - statements_before
        booking_reads = 3 * 12 * 2  # two of the five paths per round read a booking by a valid id
        self.assertGreater(statements, 0)
        self.assertLess(statements, booking_reads, "reads that arrived together were not batched")


class BookingsTest(unittest.TestCase):
    def setUp(self):
        self.customer = api.customer()

    def test_create_returns_the_contract(self):
        b = api.booking(self.customer["id"], scheduled_at="2026-12-01T10:00:00+01:00")
        self.assertEqual(b["status"], "scheduled")
        self.assertEqual(b["scheduled_at"], "2026-12-01T09:00:00Z")  # normalised to UTC
        self.assertEqual(b["price_cents"], 9000)
        self.assertEqual(b["currency"], "EUR")
        self.assertEqual(b["customer_id"], self.customer["id"])
        self.assertEqual(api.get("/v1/bookings/%d" % b["id"])[2], b)
        # Its follow-up (the confirmation email) was written with it.
        self.assertEqual(pg.psql("SELECT count(*) FROM outbox_events WHERE dedupe_key = 'booking:%d:created'"
                                 % b["id"]), "1")

    def test_validation_and_unknown_customer(self):
        status, _, data = api.post("/v1/bookings", {"customer_id": self.customer["id"], "scheduled_at": "soon",
                                                    "duration_minutes": 0, "address": "", "price_cents": 1.5,
                                                    "currency": "euro"})
        self.assertEqual(status, 422)
        self.assertEqual(fields_of(data),
                         {"scheduled_at", "duration_minutes", "address", "price_cents", "currency"})
        status, _, data = api.post("/v1/bookings", {"customer_id": 99999999, "scheduled_at": "2026-12-01T09:00:00Z",
                                                    "duration_minutes": 60, "address": "x", "price_cents": 1,
                                                    "currency": "EUR"})
        self.assertEqual(status, 422)
        self.assertEqual(fields_of(data), {"customer_id"})

    def test_life_cycle_and_conflicts(self):
        b = api.booking(self.customer["id"])
        status, _, done = api.post("/v1/bookings/%d/complete" % b["id"])
        self.assertEqual(status, 200)
        self.assertEqual(done["status"], "completed")
        self.assertRegex(done["completed_at"], RFC3339_UTC)
        # Completion creates the NPS survey and its email in the same transaction.
        self.assertEqual(pg.psql("SELECT count(*) FROM nps_surveys WHERE booking_id = %d" % b["id"]), "1")
        self.assertEqual(api.post("/v1/bookings/%d/complete" % b["id"])[0], 409)
        status, _, data = api.post("/v1/bookings/%d/cancel" % b["id"])
        self.assertEqual(status, 409)
        self.assertEqual(data["error"]["code"], "invalid_state")

        c = api.booking(self.customer["id"])
        status, _, cancelled = api.post("/v1/bookings/%d/cancel" % c["id"])
        self.assertEqual(status, 200)
        self.assertEqual(cancelled["status"], "cancelled")
        status, _, data = api.post("/v1/bookings/%d/complete" % c["id"])
        self.assertEqual(status, 409)
        self.assertIn("cancelled", data["error"]["message"])
        for verb in ("complete", "cancel"):
            self.assertEqual(api.post("/v1/bookings/99999999/%s" % verb)[0], 404)

    def test_concurrent_completes_have_exactly_one_winner(self):
        for _ in range(3):
            b = api.booking(self.customer["id"])
            with concurrent.futures.ThreadPoolExecutor(12) as pool:
                statuses = list(pool.map(lambda _: api.post("/v1/bookings/%d/complete" % b["id"])[0], range(12)))
            self.assertEqual(statuses.count(200), 1, statuses)
            self.assertEqual(statuses.count(409), 11, statuses)
            self.assertEqual(pg.psql("SELECT count(*) FROM outbox_events WHERE dedupe_key = 'booking:%d:completed'"
                                     % b["id"]), "1")


class InvoicesTest(unittest.TestCase):
    def setUp(self):
        self.booking = api.booking(api.customer()["id"])

    def invoice(self, **fields):
        body = {"booking_id": self.booking["id"], "amount_cents": 9000, "currency": "EUR",
                "due_at": "2026-12-15T00:00:00Z"}
        body.update(fields)
        return api.post("/v1/invoices", body)

    def test_create_read_and_follow_ups(self):
        status, _, inv = self.invoice(stripe_payment_intent_id="pi_%d" % self.booking["id"])
        self.assertEqual(status, 201)
        self.assertEqual(inv["status"], "open")
        self.assertEqual(inv["amount_cents"], 9000)
        self.assertEqual(inv["due_at"], "2026-12-15T00:00:00Z")
        self.assertEqual(api.get("/v1/invoices/%d" % inv["id"])[2], inv)
        kinds = pg.psql("SELECT string_agg(kind, ',' ORDER BY kind) FROM outbox_events WHERE dedupe_key LIKE "
                        "'invoice:%d:%%'" % inv["id"])
        self.assertEqual(kinds, "email,export")

    def test_conflicts_and_validation(self):
        pi = "pi_dup_%d" % self.booking["id"]
        self.assertEqual(self.invoice(stripe_payment_intent_id=pi)[0], 201)
        status, _, data = self.invoice(stripe_payment_intent_id=pi)
        self.assertEqual(status, 409)
        self.assertEqual(data["error"]["code"], "duplicate_payment_intent")
        status, _, data = self.invoice(booking_id=99999999)
        self.assertEqual(status, 422)
        self.assertEqual(fields_of(data), {"booking_id"})
        status, _, data = self.invoice(amount_cents=0, due_at="2026-12-15")
        self.assertEqual(status, 422)
        self.assertEqual(fields_of(data), {"amount_cents", "due_at"})
        open_id = self.invoice()[2]["id"]
        api.post("/v1/bookings/%d/cancel" % self.booking["id"])
        # Cancelling the visit voided what was still open for it.
        self.assertEqual(api.get("/v1/invoices/%d" % open_id)[2]["status"], "void")
        status, _, data = self.invoice()
        self.assertEqual(status, 409)
        self.assertEqual(data["error"]["code"], "invalid_state")

    def test_list_filters_by_status_and_booking(self):
        self.invoice()
        self.invoice(due_at="2027-01-15T00:00:00Z")
        status, _, page = api.get("/v1/invoices?status=open&booking_id=%d" % self.booking["id"])
        self.assertEqual(status, 200)
        self.assertEqual(len(page["data"]), 2)
        self.assertEqual([i["due_at"] for i in page["data"]], ["2026-12-15T00:00:00Z", "2027-01-15T00:00:00Z"])
        status, _, page = api.get("/v1/invoices?status=paid&booking_id=%d" % self.booking["id"])
        self.assertEqual(page["data"], [])
        self.assertIsNone(page["next_cursor"])
        status, _, data = api.get("/v1/invoices?status=overdue")
        self.assertEqual(status, 422)
        self.assertEqual(fields_of(data), {"status"})


class NpsTest(unittest.TestCase):
    def test_answer_once_through_the_emailed_link(self):
        b = api.booking(api.customer()["id"])
        api.post("/v1/bookings/%d/complete" % b["id"])
        token = pg.psql("SELECT token FROM nps_surveys WHERE booking_id = %d" % b["id"])
        # No API key: the token in the link is the credential.
        status, _, data = svc.request("POST", "/v1/nps/" + token, body=json.dumps({"score": 9, "comment": "tidy!"}))
        self.assertEqual(status, 201, data)
        answer = json.loads(data)
        self.assertEqual((answer["score"], answer["status"]), (9, "answered"))
        status, _, data = svc.request("POST", "/v1/nps/" + token, body=json.dumps({"score": 3}))
        self.assertEqual(status, 409)
        self.assertEqual(json.loads(data)["error"]["code"], "already_answered")
        status, _, data = svc.request("POST", "/v1/nps/" + token, body=json.dumps({"score": 11}))
        self.assertEqual(status, 422)
        self.assertEqual(svc.request("POST", "/v1/nps/no-such-token", body='{"score": 5}')[0], 404)
        # The token is a credential: it never reaches the logs.
        self.assertFalse([l for l in svc.lines if token in l])


class IdempotencyTest(unittest.TestCase):
    def test_a_retry_returns_the_first_answer(self):
        key = {"Idempotency-Key": "retry-%f" % time.time()}
        body = {"name": "Retry Rita", "email": "rita@example.com"}
        s1, h1, first = api.post("/v1/customers", body, headers=key)
        s2, h2, second = api.post("/v1/customers", body, headers=key)
        self.assertEqual((s1, s2), (201, 201))
        self.assertEqual(first, second)
        self.assertNotIn("Idempotent-Replayed", h1)
        self.assertEqual(h2.get("Idempotent-Replayed"), "true")
        self.assertEqual(pg.psql("SELECT count(*) FROM customers WHERE email = 'rita@example.com'"), "1")

    def test_a_reused_key_with_another_body_is_422(self):
        key = {"Idempotency-Key": "reuse-%f" % time.time()}
        self.assertEqual(api.post("/v1/customers", {"name": "A", "email": "a@example.com"}, headers=key)[0], 201)
        status, _, data = api.post("/v1/customers", {"name": "B", "email": "b@example.com"}, headers=key)
        self.assertEqual(status, 422)
        self.assertEqual(data["error"]["code"], "idempotency_key_reused")

    def test_concurrent_retries_create_one_record(self):
        key = {"Idempotency-Key": "race-%f" % time.time()}
        body = {"name": "Racy Ray", "email": "ray-%f@example.com" % time.time()}
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda _: api.post("/v1/customers", body, headers=key), range(8)))
        self.assertEqual({a[0] for a in answers}, {201})
        self.assertEqual(len({a[2]["id"] for a in answers}), 1)
        self.assertEqual(pg.psql("SELECT count(*) FROM customers WHERE email = '%s'" % body["email"]), "1")

    def test_state_changes_replay_instead_of_conflicting(self):
        b = api.booking(api.customer()["id"])
        key = {"Idempotency-Key": "complete-%d" % b["id"]}
        first = api.post("/v1/bookings/%d/complete" % b["id"], headers=key)
        again = api.post("/v1/bookings/%d/complete" % b["id"], headers=key)
        self.assertEqual((first[0], again[0]), (200, 200))
        self.assertEqual(first[2], again[2])
        self.assertEqual(api.post("/v1/bookings/%d/complete" % b["id"])[0], 409)  # without the key

    def test_keys_are_scoped_per_api_key(self):
        other = Api(svc, create_api_key(pg.url, "other-client"))
        key = {"Idempotency-Key": "shared-%f" % time.time()}
        a = api.post("/v1/customers", {"name": "A", "email": "a@example.com"}, headers=key)
        b = other.post("/v1/customers", {"name": "A", "email": "a@example.com"}, headers=key)
        self.assertEqual((a[0], b[0]), (201, 201))
        self.assertNotEqual(a[2]["id"], b[2]["id"])

    def test_a_malformed_key_is_422(self):
        status, _, data = api.post("/v1/customers", {"name": "A", "email": "a@example.com"},
                                   headers={"Idempotency-Key": "x" * 300})
        self.assertEqual(status, 422)
        self.assertEqual(fields_of(data), {"Idempotency-Key"})


class PaginationTest(unittest.TestCase):
    def test_pages_cover_every_row_once_in_order(self):
        cust = api.customer()["id"]
        made = [api.booking(cust, scheduled_at="2027-03-%02dT%02d:00:00Z" % (1 + i // 3, 8 + i % 3))["id"]
                for i in range(45)]
        seen, cursor, pages = [], None, 0
        while True:
            path = "/v1/bookings?limit=20&customer_id=%d" % cust + ("&cursor=" + cursor if cursor else "")
            status, _, page = api.get(path)
            self.assertEqual(status, 200, page)
            pages += 1
            seen += page["data"]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        self.assertEqual(pages, 3)
        self.assertEqual(sorted(b["id"] for b in seen), sorted(made))
        times = [b["scheduled_at"] for b in seen]
        self.assertEqual(times, sorted(times))

    def test_time_range_and_status_filters(self):
        cust = api.customer()["id"]
        for day in (1, 2, 3, 4):
            api.booking(cust, scheduled_at="2028-05-%02dT12:00:00Z" % day)
        status, _, page = api.get("/v1/bookings?customer_id=%d&from=2028-05-02T00:00:00Z&to=2028-05-04T00:00:00Z"
                                  % cust)
        self.assertEqual(status, 200)
        self.assertEqual([b["scheduled_at"][:10] for b in page["data"]], ["2028-05-02", "2028-05-03"])
        first = page["data"][0]["id"]
        api.post("/v1/bookings/%d/cancel" % first)
        status, _, page = api.get("/v1/bookings?customer_id=%d&status=cancelled" % cust)
        self.assertEqual([b["id"] for b in page["data"]], [first])

    def test_bad_parameters_are_422(self):
        status, _, data = api.get("/v1/bookings?limit=0&cursor=garbage&from=yesterday")
        self.assertEqual(status, 422)
        self.assertEqual(fields_of(data), {"limit", "cursor", "from"})
        # Well-formed but forged: a time PostgreSQL cannot hold is the
        # client's mistake (422), not a database error (500).
        forged = base64.urlsafe_b64encode(b"9223372036854775807.1").decode().rstrip("=")
        for path in ("/v1/bookings?cursor=", "/v1/customers?cursor=", "/v1/invoices?cursor="):
            status, _, data = api.get(path + forged)
            self.assertEqual((status, fields_of(data)), (422, {"cursor"}), path)


class MetricsTest(unittest.TestCase):
    def test_pool_and_api_series_use_templates_not_ids(self):
        api.get("/v1/customers/999999")
        status, _, body = svc.get("/metrics")
        text = body.decode()
        self.assertEqual(status, 200)
        for series in ('db_pool_connections{state="idle"}', 'db_pool_connections{state="busy"}',
                       'db_pool_connections{state="overflow"}', "db_pool_timeout_total",
                       "db_pool_wait_seconds_bucket", 'db_query_duration_seconds_bucket{query="customers.get"',
                       'api_errors_total{code="not_found",route="/v1/customers/{id}"}',
                       'api_auth_failures_total{reason="missing"}', "api_idempotent_replays_total"):
            self.assertIn(series, text)
        self.assertIsNone(re.search(r'\{[^}]*999999[^}]*\}', text))  # no raw ids in any label


if __name__ == "__main__":
    unittest.main()
