"""Stripe webhooks end to end: deliveries signed by Stripe's official Node
SDK (stripe.webhooks.generateTestHeaderString), every way a signature can
be wrong, idempotency under redelivery and 50 concurrent deliveries,
out-of-order events, payload mismatches stored but never applied, and the
breaker opening while PostgreSQL is down and closing once it is back."""

import concurrent.futures
import http.server
import json
import os
import subprocess
import threading
import time
import unittest
import urllib.parse

from harness import Api, Service, create_api_key, metric, migrated_postgres, run_cli, wait_until

NODE_MODULES = os.environ.get("CLEAN_NODE_MODULES", os.path.join(os.path.dirname(__file__), "../../build/e2e-node/node_modules"))
SIGNER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "stripe_sign.js")
OLD_SECRET = "whsec_e2e_old_0123456789abcdef"
NEW_SECRET = "whsec_e2e_new_fedcba9876543210"

pg = None
svc = None
api = None
seq = [0]


def setUpModule():
    global pg, svc, api
    if not os.path.isdir(os.path.join(NODE_MODULES, "stripe")):
        raise RuntimeError("Stripe's Node SDK is not installed in %s: run scripts/test (it installs it)" % NODE_MODULES)
    pg = migrated_postgres()
    key = create_api_key(pg.url)
    # Two secrets: the rotation case. A small, quick breaker for the outage test.
    svc = Service(pg.url, STRIPE_WEBHOOK_SECRET=OLD_SECRET + "," + NEW_SECRET, STRIPE_BREAKER_WINDOW="4",
                  STRIPE_BREAKER_MIN_CALLS="2", STRIPE_BREAKER_OPEN_SECONDS="2", STRIPE_BREAKER_HALF_OPEN_CALLS="1",
                  ACCESS_LOG="false").start()
    api = Api(svc, key)


def tearDownModule():
    svc.stop()
    pg.destroy()


def sign(payloads, secret=NEW_SECRET, timestamp=None):
    """Stripe-Signature headers from Stripe's SDK, one per payload."""
    jobs = [{"payload": p, "secret": secret, "timestamp": int(timestamp or time.time())} for p in payloads]
    out = subprocess.run(["node", SIGNER, os.path.join(NODE_MODULES, "stripe")], input=json.dumps(jobs),
                         capture_output=True, text=True, timeout=60, check=True)
    return json.loads(out.stdout)


def deliver(payload, header, service=None):
    headers = {"Content-Type": "application/json"}
    if header is not None:
        headers["Stripe-Signature"] = header
    status, res_headers, data = (service or svc).request("POST", "/v1/webhooks/stripe", body=payload,
                                                         headers=headers)
    return status, res_headers, (json.loads(data) if data else None)


def event(type_, obj, event_id=None):
    seq[0] += 1
    return json.dumps({"id": event_id or "evt_e2e_%d_%d" % (os.getpid(), seq[0]), "object": "event", "type": type_,
                       "created": int(time.time()), "livemode": False, "data": {"object": obj}})


def invoice(amount=12000, currency="EUR", intent=None):
    c = api.customer(email="stripe-%d@example.com" % time.time_ns())
    b = api.booking(c["id"], scheduled_at="2030-01-01T10:00:00Z")
    body = {"booking_id": b["id"], "amount_cents": amount, "currency": currency, "due_at": "2030-01-15T00:00:00Z"}
    if intent:
        body["stripe_payment_intent_id"] = intent
    status, _, data = api.post("/v1/invoices", body)
    assert status == 201, data
    return data


def invoice_status(inv):
    return api.get("/v1/invoices/%d" % inv["id"])[2]["status"]


def intent(inv, status="succeeded", amount=None, currency="eur", **extra):
    obj = {"id": inv.get("stripe_payment_intent_id") or "pi_%d" % inv["id"], "object": "payment_intent",
           "amount": amount if amount is not None else inv["amount_cents"], "currency": currency, "status": status,
           "metadata": {"invoice_id": str(inv["id"])}}
    obj.update(extra)
    return obj


def q(sql):
    return pg.psql(sql)


class SignatureTest(unittest.TestCase):
    def test_a_delivery_signed_by_stripes_sdk_is_applied_once(self):
        inv = invoice()
        payload = event("payment_intent.succeeded", intent(inv))
        [header] = sign([payload])
        status, _, body = deliver(payload, header)
        self.assertEqual((status, body["result"]), (200, "applied"), body)
        self.assertEqual(invoice_status(inv), "paid")
        before = metric(svc, "webhook_events_total", result="duplicate")
        status, _, body = deliver(payload, header)  # Stripe redelivers
        self.assertEqual((status, body["result"]), (200, "duplicate"))
        self.assertEqual(metric(svc, "webhook_events_total", result="duplicate"), before + 1)
        self.assertGreaterEqual(metric(svc, "stripe_webhook_events_total", outcome="ok"), 1)
        self.assertGreaterEqual(metric(svc, "stripe_webhook_events_total", outcome="duplicate"), 1)
        self.assertEqual(q("SELECT status FROM stripe_events WHERE id = '%s'" % json.loads(payload)["id"]), "applied")

    def test_the_second_secret_works_during_a_rotation(self):
        inv = invoice()
        payload = event("payment_intent.succeeded", intent(inv))
        [header] = sign([payload], secret=OLD_SECRET)
        status, _, body = deliver(payload, header)
        self.assertEqual((status, body["result"]), (200, "applied"))
        self.assertEqual(invoice_status(inv), "paid")

    def test_every_bad_signature_is_refused_counted_and_not_stored(self):
        inv = invoice()
        payload = event("payment_intent.succeeded", intent(inv))
        now = int(time.time())
        wrong, = sign([payload], secret="whsec_not_ours_0000")
        tampered_header, = sign([payload])
        old, = sign([payload], timestamp=now - 400)
        future, = sign([payload], timestamp=now + 400)
        cases = {"wrong secret": (payload, wrong), "tampered body": (payload.replace("12000", "1"), tampered_header),
                 "expired": (payload, old), "from the future": (payload, future), "missing header": (payload, None),
                 "malformed header": (payload, "v1=nonsense,t=soon")}
        errors = metric(svc, "webhook_errors_total", type="invalid_signature")
        stored = q("SELECT count(*) FROM stripe_events")
        for name, (body, header) in cases.items():
            with self.subTest(case=name):
                status, _, answer = deliver(body, header)
                self.assertEqual((status, answer["error"]["code"]), (400, "invalid_signature"))
        self.assertEqual(metric(svc, "webhook_errors_total", type="invalid_signature"), errors + len(cases))
        self.assertEqual(q("SELECT count(*) FROM stripe_events"), stored)
        self.assertEqual(invoice_status(inv), "open")


class EffectsTest(unittest.TestCase):
    def send(self, type_, obj, event_id=None):
        payload = event(type_, obj, event_id)
        [header] = sign([payload])
        return deliver(payload, header)

    def test_out_of_order_deliveries_never_move_an_invoice_backwards(self):
        inv = invoice(intent="pi_order_%d" % time.time_ns())
        self.assertEqual(self.send("payment_intent.succeeded", intent(inv))[2]["result"], "applied")
        failed = intent(inv, status="requires_payment_method", last_payment_error={"message": "card declined"})
        status, _, body = self.send("payment_intent.payment_failed", failed)  # late failure
        self.assertEqual((status, body["result"]), (200, "applied"))
        self.assertEqual(invoice_status(inv), "paid")
        charge = {"id": "ch_%d" % inv["id"], "object": "charge", "payment_intent": inv["stripe_payment_intent_id"],
                  "amount": inv["amount_cents"], "amount_refunded": inv["amount_cents"], "refunded": True,
                  "currency": "eur"}
        self.assertEqual(self.send("charge.refunded", charge)[2]["result"], "applied")
        self.assertEqual(invoice_status(inv), "refunded")
        self.send("payment_intent.succeeded", intent(inv))  # a stale success, redelivered late
        self.assertEqual(invoice_status(inv), "refunded")

    def test_a_refund_delivered_before_its_success_still_ends_refunded(self):
        inv = invoice(intent="pi_refund_first_%d" % time.time_ns())
        charge = {"id": "ch_rf_%d" % inv["id"], "object": "charge", "payment_intent": inv["stripe_payment_intent_id"],
                  "amount": inv["amount_cents"], "amount_refunded": inv["amount_cents"], "refunded": True,
                  "currency": "eur"}
        self.assertEqual(self.send("charge.refunded", charge)[2]["result"], "applied")
        self.send("payment_intent.succeeded", intent(inv))
        self.assertEqual(invoice_status(inv), "refunded")

    def test_a_failure_is_recorded_and_the_customer_told_then_a_success_pays(self):
        inv = invoice()
        failed = intent(inv, status="requires_payment_method", last_payment_error={"message": "insufficient funds"})
        status, _, body = self.send("payment_intent.payment_failed", failed)
        self.assertEqual((status, body["result"]), (200, "applied"))
        self.assertEqual(invoice_status(inv), "open")
        self.assertEqual(q("SELECT last_payment_error FROM invoices WHERE id = %d" % inv["id"]), "insufficient funds")
        self.assertEqual(q("SELECT payload->>'template' FROM outbox_events WHERE dedupe_key LIKE 'invoice:%d:payment_failed:%%'"
                           % inv["id"]), "payment_failed")
        self.assertEqual(self.send("payment_intent.succeeded", intent(inv))[2]["result"], "applied")
        self.assertEqual(invoice_status(inv), "paid")

    def test_the_invoice_is_found_by_its_payment_intent_without_metadata(self):
        inv = invoice(intent="pi_lookup_%d" % time.time_ns())
        obj = intent(inv)
        del obj["metadata"]
        self.assertEqual(self.send("payment_intent.succeeded", obj)[2]["result"], "applied")
        self.assertEqual(invoice_status(inv), "paid")
        # Stripe's own invoice object, pointing at the same intent.
        inv2 = invoice(intent="pi_inv_%d" % time.time_ns())
        stripe_invoice = {"id": "in_%d" % inv2["id"], "object": "invoice", "payment_intent": inv2["stripe_payment_intent_id"],
                          "amount_paid": inv2["amount_cents"], "currency": "eur"}
        self.assertEqual(self.send("invoice.paid", stripe_invoice)[2]["result"], "applied")
        self.assertEqual(invoice_status(inv2), "paid")

    def test_unknown_types_are_acknowledged_and_ignored(self):
        before = metric(svc, "webhook_events_total", result="ignored")
        status, _, body = self.send("customer.created", {"id": "cus_1", "object": "customer"})
        self.assertEqual((status, body["result"]), (200, "ignored"))
        self.assertEqual(metric(svc, "webhook_events_total", result="ignored"), before + 1)

    def test_redeliveries_of_final_events_are_answered_without_the_database(self):
        def database_calls():
            return metric(svc, "db_query_duration_seconds_count", query="stripe.receive") or 0
        inv = invoice()
        applied = event("payment_intent.succeeded", intent(inv))
        unhandled = event("customer.created", {"id": "cus_final", "object": "customer"})
        # No invoice of ours has this intent yet: ignored for now, but a
        # replay once the invoice exists would apply it, so it is not final.
        unmatched = event("payment_intent.succeeded", {"id": "pi_nobody_%d" % time.time_ns(),
                                                       "object": "payment_intent", "amount": 100, "currency": "eur"})
        headers = sign([applied, unhandled, unmatched])
        answers = [deliver(p, h)[2]["result"] for p, h in zip([applied, unhandled, unmatched], headers)]
        self.assertEqual(answers, ["applied", "ignored", "ignored"])
        before = database_calls()
        duplicates = metric(svc, "webhook_events_total", result="duplicate")
        for payload, header in zip([applied, unhandled], headers):
            status, _, body = deliver(payload, header)
            self.assertEqual((status, body), (200, {"received": True, "result": "duplicate",
                                                    "event_id": json.loads(payload)["id"]}))
        self.assertEqual(database_calls(), before)  # answered from what this loop remembers
        self.assertEqual(metric(svc, "webhook_events_total", result="duplicate"), duplicates + 2)
        status, _, body = deliver(unmatched, headers[2])
        self.assertEqual((status, body["result"]), (200, "duplicate"))
        self.assertEqual(database_calls(), before + 1)
        # A forged redelivery still needs a valid signature.
        status, _, body = deliver(applied, sign([applied], secret="whsec_not_ours_0000")[0])
        self.assertEqual((status, body["error"]["code"]), (400, "invalid_signature"))

    def test_a_mismatch_is_stored_not_applied_and_can_be_replayed_after_a_fix(self):
        inv = invoice(amount=9000)
        errors = metric(svc, "webhook_errors_total", type="payload_mismatch")
        status, _, body = self.send("payment_intent.succeeded", intent(inv, amount=900))
        self.assertEqual((status, body["error"]["code"]), (400, "payload_mismatch"))
        self.assertIn("900", body["error"]["message"])
        self.assertEqual(invoice_status(inv), "open")
        usd_payload = event("payment_intent.succeeded", intent(inv, currency="usd"))
        [usd_header] = sign([usd_payload])
        status, _, body = deliver(usd_payload, usd_header)
        self.assertEqual(status, 400)
        # Redelivered, it is still refused (and counted), not a quiet duplicate.
        status, _, body = deliver(usd_payload, usd_header)
        self.assertEqual((status, body["error"]["code"]), (400, "payload_mismatch"))
        self.assertEqual(metric(svc, "webhook_errors_total", type="payload_mismatch"), errors + 3)
        # Verified but not an event at all: stored for inspection too.
        junk = json.dumps({"hello": "world"})
        [header] = sign([junk])
        status, _, body = deliver(junk, header)
        self.assertEqual((status, body["error"]["code"]), (400, "payload_mismatch"))
        # On-call's view, and a replay once the record is corrected.
        status, _, listed = svc.get_json("/v1/admin/webhooks/events?status=payload_mismatch&limit=50")
        self.assertEqual(status, 200)
        mine = [e for e in listed["data"] if e["invoice_id"] == inv["id"]]
        self.assertEqual(len(mine), 2)
        usd = [e for e in mine if "usd" in e["detail"]][0]
        q("UPDATE invoices SET currency = 'USD' WHERE id = %d" % inv["id"])
        status, _, replayed = svc.request("POST", "/v1/admin/webhooks/events/%s/replay" % usd["id"])
        self.assertEqual(status, 200, replayed)
        self.assertEqual(json.loads(replayed)["result"], "applied")
        self.assertEqual(invoice_status(inv), "paid")
        status, _, again = svc.request("POST", "/v1/admin/webhooks/events/%s/replay" % usd["id"])
        self.assertEqual((status, json.loads(again)["error"]["code"]), (409, "already_applied"))
        self.assertEqual(svc.request("POST", "/v1/admin/webhooks/events/evt_nope/replay")[0], 404)

    def test_fifty_concurrent_deliveries_of_one_event_apply_it_once(self):
        inv = invoice()
        failed = intent(inv, status="requires_payment_method", last_payment_error={"message": "declined"})
        payload = event("payment_intent.payment_failed", failed)
        [header] = sign([payload])
        with concurrent.futures.ThreadPoolExecutor(max_workers=50) as pool:
            answers = list(pool.map(lambda _: deliver(payload, header), range(50)))
        results = sorted(a[2]["result"] for a in answers if a[0] == 200)
        self.assertEqual(len(results), 50, [a[:1] for a in answers])
        self.assertEqual(results.count("applied"), 1)
        self.assertEqual(results.count("duplicate"), 49)
        self.assertEqual(q("SELECT count(*) FROM outbox_events WHERE dedupe_key LIKE 'invoice:%d:payment_failed:%%'"
                           % inv["id"]), "1")

    def test_a_concurrent_burst_answers_each_delivery_as_it_would_alone(self):
        # Many at once go to the database in shared batches (group commit):
        # each must still come to what it would have come to on its own.
        ignored = [event("customer.created", {"id": "cus_burst_%d" % i, "object": "customer"}) for i in range(20)]
        invoices = [invoice() for _ in range(4)]
        paid = [event("payment_intent.succeeded", intent(inv)) for inv in invoices]
        mismatch_inv = invoice(amount=5000)
        mismatched = event("payment_intent.succeeded", intent(mismatch_inv, amount=50))
        junk = json.dumps({"burst": True, "n": seq[0]})
        payloads = ignored * 2 + paid * 2 + [mismatched, mismatched, junk]
        headers = sign(payloads)
        with concurrent.futures.ThreadPoolExecutor(max_workers=32) as pool:
            answers = list(pool.map(lambda ph: deliver(*ph), zip(payloads, headers)))
        by_payload = {}
        for payload, (status, _, body) in zip(payloads, answers):
            by_payload.setdefault(payload, []).append(
                (status, body.get("result") or body.get("error", {}).get("code")))
        for payload in ignored:
            self.assertEqual(sorted(by_payload[payload]), [(200, "duplicate"), (200, "ignored")])
        for payload in paid:
            self.assertEqual(sorted(by_payload[payload]), [(200, "applied"), (200, "duplicate")])
        self.assertEqual(by_payload[mismatched], [(400, "payload_mismatch")] * 2)
        self.assertEqual(by_payload[junk], [(400, "payload_mismatch")])
        self.assertEqual([invoice_status(inv) for inv in invoices], ["paid"] * 4)
        self.assertEqual(invoice_status(mismatch_inv), "open")
        ids = ",".join("'%s'" % json.loads(p)["id"] for p in ignored)
        self.assertEqual(q("SELECT count(*) FROM stripe_events WHERE status = 'ignored' AND id IN (%s)" % ids), "20")
        # What was stored is the body exactly as signed.
        first = json.loads(ignored[0])["id"]
        self.assertEqual(q("SELECT payload FROM stripe_events WHERE id = '%s'" % first), ignored[0])

    def test_a_burst_of_unhandled_types_is_stored_settled_and_deduplicated(self):
        # Batches of only unhandled types are one autocommitted statement:
        # the stored rows must be as complete as the transactional path's.
        events = [event("customer.updated", {"id": "cus_only_%d_%d" % (seq[0], i), "object": "customer"})
                  for i in range(24)]
        payloads = events * 2
        headers = sign(payloads)
        with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
            answers = list(pool.map(lambda ph: deliver(*ph), zip(payloads, headers)))
        by_payload = {}
        for payload, (status, _, body) in zip(payloads, answers):
            by_payload.setdefault(payload, []).append((status, body.get("result")))
        for payload in events:
            self.assertEqual(sorted(by_payload[payload]), [(200, "duplicate"), (200, "ignored")])
        ids = ",".join("'%s'" % json.loads(p)["id"] for p in events)
        self.assertEqual(q("SELECT count(*) FROM stripe_events WHERE id IN (%s) AND status = 'ignored' "
                           "AND detail = 'event type not handled' AND processed_at IS NOT NULL "
                           "AND invoice_id IS NULL AND type = 'customer.updated'" % ids), "24")
        # A later redelivery, alone, still sees what was stored.
        [again] = sign([events[3]])
        status, _, body = deliver(events[3], again)
        self.assertEqual((status, body["result"]), (200, "duplicate"))


class ColdRedeliveryTest(unittest.TestCase):
    """An instance that remembers no settled events (another instance took
    the first deliveries, or it restarted) answers every redelivery from the
    database. After a batch of mostly redeliveries a connection reads the
    ids first and parses only the bodies it does not find; what each
    delivery comes to must not depend on which way its batch went."""

    def test_waves_of_redeliveries_mixed_with_new_events_answer_as_alone(self):
        # One connection: every batch after the first mostly-duplicate one
        # starts with the read.
        cold = Service(pg.url, STRIPE_WEBHOOK_SECRET=NEW_SECRET, STRIPE_WEBHOOK_SETTLED_CACHE="0",
                       DATABASE_POOL_SIZE="1", DATABASE_MAX_OVERFLOW="0", ACCESS_LOG="false").start()
        try:
            def burst(payloads):
                headers = sign(payloads)

                def one(ph):
                    status, _, body = deliver(*ph, service=cold)
                    return status, body.get("result") or body["error"]["code"]
                with concurrent.futures.ThreadPoolExecutor(max_workers=24) as pool:
                    return list(pool.map(one, zip(payloads, headers)))

            def database_calls():
                return metric(cold, "db_query_duration_seconds_count", query="stripe.receive") or 0

            invoices = [invoice() for _ in range(3)]
            paid = [event("payment_intent.succeeded", intent(inv)) for inv in invoices]
            ignored = [event("customer.created", {"id": "cus_cold_%d_%d" % (seq[0], i), "object": "customer"})
                       for i in range(12)]
            mismatch_inv = invoice(amount=7000)
            mismatched = event("payment_intent.succeeded", intent(mismatch_inv, amount=70))
            junk = json.dumps({"cold": True, "n": seq[0]})
            first = paid + ignored + [mismatched, junk]
            self.assertEqual(burst(first), [(200, "applied")] * 3 + [(200, "ignored")] * 12 +
                             [(400, "payload_mismatch")] * 2)
            later_invoices = [invoice() for _ in range(2)]
            before = database_calls()
            for wave in range(3):
                fresh = event("payment_intent.succeeded", intent(later_invoices[wave])) if wave < 2 else None
                payloads = first * 2 + ([fresh] if fresh else [])
                answers = burst(payloads)
                expected = ([(200, "duplicate")] * 15 + [(400, "payload_mismatch")] * 2) * 2
                if fresh:
                    expected.append((200, "applied"))
                self.assertEqual(answers, expected, "wave %d" % wave)
            self.assertGreater(database_calls(), before)  # nothing was answered from memory
            self.assertEqual([invoice_status(inv) for inv in invoices + later_invoices], ["paid"] * 5)
            self.assertEqual(invoice_status(mismatch_inv), "open")
            ids = ",".join("'%s'" % json.loads(p)["id"] for p in paid + ignored + [mismatched])
            self.assertEqual(q("SELECT count(*) FROM stripe_events WHERE id IN (%s)" % ids), "16")
            self.assertEqual(q("SELECT status FROM stripe_events WHERE id = '%s'" % json.loads(mismatched)["id"]),
                             "payload_mismatch")
        finally:
            cold.stop()


class FakeStripeApi(http.server.BaseHTTPRequestHandler):
    pages = {}  # starting_after ("" for the first page) -> (events, has_more)
    requests = []
    answer = 200

    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        query = urllib.parse.parse_qs(url.query)
        FakeStripeApi.requests.append((url.path, query, dict(self.headers)))
        events, more = FakeStripeApi.pages.get(query.get("starting_after", [""])[0], ([], False))
        body = json.dumps({"object": "list", "data": events, "has_more": more}).encode()
        self.send_response(FakeStripeApi.answer)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class ReconcileTest(unittest.TestCase):
    def test_events_stripe_could_not_deliver_are_applied_once(self):
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeStripeApi)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            a, b, c = invoice(), invoice(), invoice()
            ev_a = json.loads(event("payment_intent.succeeded", intent(a)))
            ev_b = json.loads(event("payment_intent.succeeded", intent(b)))
            ev_c = json.loads(event("payment_intent.payment_failed",
                                    intent(c, status="requires_payment_method",
                                           last_payment_error={"message": "expired card"})))
            FakeStripeApi.pages = {"": ([ev_a, ev_c], True), ev_c["id"]: ([ev_b], False)}
            env = {"DATABASE_URL": pg.url, "STRIPE_API_KEY": "sk_test_e2e_reconcile",
                   "STRIPE_API_BASE_URL": "http://127.0.0.1:%d" % server.server_address[1]}
            result = run_cli(["jobs", "run", "--job", "stripe-reconcile", "--once"], env=env)
            self.assertEqual(result.returncode, 0, result.stderr)
            self.assertIn("applied 3", result.stdout)
            self.assertEqual((invoice_status(a), invoice_status(b), invoice_status(c)), ("paid", "paid", "open"))
            # The failure's follow-up email is queued from the job's own connection too.
            self.assertEqual(q("SELECT count(*) FROM outbox_events WHERE dedupe_key = 'invoice:%d:payment_failed:%s'"
                               % (c["id"], ev_c["id"])), "1")
            path, query, headers = FakeStripeApi.requests[0]
            self.assertEqual(path, "/v1/events")
            self.assertEqual(query["delivery_success"], ["false"])
            self.assertLess(abs(int(query["created[gte]"][0]) - (time.time() - 96 * 3600)), 120)
            self.assertEqual(headers["Authorization"], "Bearer sk_test_e2e_reconcile")
            self.assertEqual(FakeStripeApi.requests[1][1]["starting_after"], [ev_c["id"]])
            # The same event arriving late by webhook is a duplicate, not a second payment.
            payload = json.dumps(ev_b)
            [header] = sign([payload])
            self.assertEqual(deliver(payload, header)[2]["result"], "duplicate")
            # Run again: nothing new is applied.
            again = run_cli(["jobs", "run", "--job", "stripe-reconcile", "--once"], env=env)
            self.assertIn("applied 0, already received 3", again.stdout)
            # Stripe's API failing: the run fails, visibly.
            FakeStripeApi.answer = 500
            failed = run_cli(["jobs", "run", "--job", "stripe-reconcile", "--once"], env=env)
            self.assertEqual(failed.returncode, 1)
            self.assertIn("Stripe answered 500", failed.stderr)
            self.assertNotIn("sk_test_e2e_reconcile", failed.stderr + failed.stdout)
            self.assertEqual(q("SELECT consecutive_failures FROM job_state WHERE name = 'stripe-reconcile'"), "1")
        finally:
            FakeStripeApi.answer = 200
            server.shutdown()
            server.server_close()


class OutageTest(unittest.TestCase):
    def test_database_down_opens_the_breaker_and_redeliveries_apply_exactly_once(self):
        invoices = [invoice() for _ in range(4)]
        payloads = [event("payment_intent.succeeded", intent(inv)) for inv in invoices]
        headers = sign(payloads)
        settled_inv = invoice()
        settled = event("payment_intent.succeeded", intent(settled_inv))
        [settled_header] = sign([settled])
        self.assertEqual(deliver(settled, settled_header)[2]["result"], "applied")
        opened = metric(svc, "stripe_webhook_circuit_open_total")
        pg.stop()
        try:
            # Applied a moment ago: its redelivery needs no database.
            status, _, body = deliver(settled, settled_header)
            self.assertEqual((status, body["result"]), (200, "duplicate"))
            statuses = [deliver(p, h)[0] for p, h in zip(payloads, headers)]
            self.assertIn(500, statuses)  # processing failed: Stripe will retry
            self.assertTrue(wait_until(lambda: metric(svc, "circuit_state", circuit="stripe") == 1, timeout=10))
            started = time.monotonic()
            status, res_headers, body = deliver(payloads[0], headers[0])
            self.assertEqual((status, body["error"]["code"]), (503, "circuit_open"))
            self.assertIn("Retry-After", res_headers)
            self.assertLess(time.monotonic() - started, 1.0)  # at once, no waiting on the database
            # A failed delivery made the loop forget what it had seen settle:
            # the database that comes back might not be the one that had it.
            status, _, body = deliver(settled, settled_header)
            self.assertEqual((status, body["error"]["code"]), (503, "circuit_open"))
            self.assertGreaterEqual(metric(svc, "stripe_webhook_circuit_open_total"), opened + 1)
            self.assertGreaterEqual(metric(svc, "webhook_errors_total", type="processing_error"), 1)
        finally:
            pg.start()
        # Stripe keeps redelivering: once the breaker lets trials through and
        # they succeed, everything is applied exactly once.
        def redeliver():
            answers = [deliver(p, h) for p, h in zip(payloads, headers)]
            return all(a[0] == 200 for a in answers)
        self.assertTrue(wait_until(redeliver, timeout=30, interval=0.5))
        self.assertEqual(metric(svc, "circuit_state", circuit="stripe"), 0)
        for inv in invoices:
            self.assertEqual(invoice_status(inv), "paid")
        ids = ",".join("'%s'" % json.loads(p)["id"] for p in payloads)
        self.assertEqual(q("SELECT count(*) FROM stripe_events WHERE id IN (%s) AND status = 'applied'" % ids), "4")


if __name__ == "__main__":
    unittest.main()
