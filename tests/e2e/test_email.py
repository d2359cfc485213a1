"""Email delivery end to end: the outbox through the email actor to a real
SMTP server (Debian's aiosmtpd), temporary and permanent rejections,
dead letters and their replay, the circuit breaker when the server is down
or forced open by on-call, the SendGrid adapter against a local HTTP
server, and kill -9 in the middle of a burst of 1,000 emails."""

import base64
import hashlib
import hmac
import http.server
import json
import signal
import threading
import time
import unittest
import urllib.parse

from harness import Api, Service, SmtpSink, create_api_key, metric, migrated_postgres, wait_until

pg = None
api_key = None
sink = None


def setUpModule():
    global pg, api_key, sink
    pg = migrated_postgres()
    api_key = create_api_key(pg.url)
    sink = SmtpSink().start()


def tearDownModule():
    sink.destroy()
    pg.destroy()


def iso(offset_seconds):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + offset_seconds))


def q(sql):
    return pg.psql(sql)


def event(key):
    """status|attempts|last_error of the outbox event with `key`."""
    return q("SELECT status || '|' || attempts || '|' || coalesce(last_error, '') FROM outbox_events "
             "WHERE dedupe_key = '%s'" % key)


def status_of(key):
    return event(key).split("|")[0]


FAST = {"JOB_POLL_SECONDS": "0.2", "JOB_OUTBOX_DISPATCH_SCHEDULE": "1s", "JOB_EMAIL_DLQ_SCHEDULE": "1s",
        "EMAIL_ADAPTER": "smtp", "SMTP_STARTTLS": "off", "EMAIL_SEND_TIMEOUT_SECONDS": "3",
        "SMTP_CONNECT_TIMEOUT_SECONDS": "1", "ACCESS_LOG": "false"}


def start_service(**env):
    full = dict(FAST, SMTP_URL=sink.url)
    full.update({k: str(v) for k, v in env.items()})
    return Service(pg.url, **full).start()


def to(address):
    return [m for m in sink.messages() if address in m["X-Envelope-To"]]


class SmtpDeliveryTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        sink.set_mode("accept")
        cls.svc = start_service()
        cls.api = Api(cls.svc, api_key)

    @classmethod
    def tearDownClass(cls):
        cls.svc.stop()

    def setUp(self):
        sink.set_mode("accept")

    def booking_for(self, address, name="Grace Hopper"):
        c = self.api.customer(name=name, email=address)
        b = self.api.booking(c["id"], scheduled_at=iso(3 * 86400))
        return "booking:%d:created" % b["id"]

    def test_delivered_through_smtp_with_a_stable_message_id(self):
        key = self.booking_for("smtp-ok@example.com", name="Grace <Hopper> & Co")
        self.assertTrue(wait_until(lambda: status_of(key) == "delivered", timeout=15), event(key))
        msgs = to("smtp-ok@example.com")
        self.assertEqual(len(msgs), 1)
        m = msgs[0]
        self.assertRegex(m["Message-ID"], r"^<[0-9a-f]{32}@clean-service>$")
        self.assertIn("is booked", m["Subject"])
        self.assertEqual(m["To"], '"Grace <Hopper> & Co" <smtp-ok@example.com>')
        html = [p for p in m.walk() if p.get_content_type() == "text/html"][0].get_payload(decode=True).decode()
        self.assertIn("Grace &lt;Hopper&gt; &amp; Co", html)
        self.assertGreaterEqual(metric(self.svc, "email_adapter_outcomes_total", status="sent"), 1)
        self.assertGreaterEqual(metric(self.svc, "email_notifications_total", template="booking_confirmation",
                                       status="delivered"), 1)
        self.assertEqual(metric(self.svc, "circuit_state", circuit="email"), 0)
        # No INTEGRATION_WEBHOOK_URL: no webhook events are queued.
        self.assertEqual(q("SELECT count(*) FROM outbox_events WHERE dedupe_key = '%s:webhook'" % key), "0")

    def test_a_temporary_failure_is_retried_then_delivered(self):
        sink.set_mode("451")
        key = self.booking_for("smtp-451@example.com")
        self.assertTrue(wait_until(lambda: status_of(key) == "retry", timeout=15), event(key))
        status, attempts, error = event(key).split("|", 2)
        self.assertEqual(attempts, "1")
        self.assertIn("451", error)
        self.assertGreaterEqual(metric(self.svc, "email_adapter_outcomes_total", status="failed"), 1)
        self.assertGreaterEqual(metric(self.svc, "email_notifications_total", template="booking_confirmation",
                                       status="failed"), 1)
        # The server recovers; the retry comes due (backoff skipped) and email-dlq delivers it.
        sink.set_mode("accept")
        q("UPDATE outbox_events SET next_attempt_at = now() WHERE dedupe_key = '%s'" % key)
        self.assertTrue(wait_until(lambda: status_of(key) == "delivered", timeout=15), event(key))
        self.assertEqual(len(to("smtp-451@example.com")), 1)

    def test_a_permanent_rejection_is_dead_at_once_and_a_replay_delivers_it(self):
        sink.set_mode("554")
        key = self.booking_for("smtp-554@example.com")
        self.assertTrue(wait_until(lambda: status_of(key) == "dead", timeout=15), event(key))
        status, attempts, error = event(key).split("|", 2)
        self.assertEqual(attempts, "1")  # no retry storm
        self.assertIn("554", error)
        event_id = int(q("SELECT id FROM outbox_events WHERE dedupe_key = '%s'" % key))
        dead = lambda: metric(self.svc, "email_dlq_messages", status="dead")
        self.assertTrue(wait_until(lambda: dead() == int(q(
            "SELECT count(*) FROM outbox_events WHERE kind = 'email' AND status = 'dead'")), timeout=10))
        self.assertGreaterEqual(dead(), 1)
        self.assertGreaterEqual(metric(self.svc, "outbox_queue_messages", status="dead"), 1)
        self.assertGreaterEqual(metric(self.svc, "email_adapter_outcomes_total", status="rejected"), 1)

        # On-call's view: the dead letter with its error, and the queue depths.
        s, _, body = self.svc.get_json("/v1/admin/outbox/dead-letter?kind=email")
        self.assertEqual(s, 200)
        listed = [e for e in body["data"] if e["id"] == event_id]
        self.assertEqual(len(listed), 1)
        self.assertIn("554", listed[0]["last_error"])
        self.assertEqual(listed[0]["template"], "booking_confirmation")
        s, _, queues = self.svc.get_json("/v1/admin/queues/dead-letter")
        email_queue = [x for x in queues["data"] if x["queue"] == "email"][0]
        self.assertGreaterEqual(email_queue["dead"], 1)
        self.assertIsNotNone(email_queue["oldest_dead_age_seconds"])

        # Fixed, then replayed: delivered, and the DLQ is empty again.
        sink.set_mode("accept")
        s, _, body = self.svc.request("POST", "/v1/admin/outbox/%d/replay" % event_id)
        self.assertEqual(s, 200, body)
        self.assertEqual(json.loads(body)["status"], "pending")
        self.assertTrue(wait_until(lambda: status_of(key) == "delivered", timeout=15), event(key))
        self.assertEqual(len(to("smtp-554@example.com")), 1)
        self.assertTrue(wait_until(lambda: dead() == int(q(
            "SELECT count(*) FROM outbox_events WHERE kind = 'email' AND status = 'dead'")), timeout=10))
        self.assertEqual(q("SELECT replays FROM outbox_events WHERE id = %d" % event_id), "1")
        # Replaying what is not dead is a conflict; audited either way.
        s, _, body = self.svc.request("POST", "/v1/admin/outbox/%d/replay" % event_id)
        self.assertEqual((s, json.loads(body)["error"]["code"]), (409, "not_dead"))
        self.assertEqual(self.svc.request("POST", "/v1/admin/outbox/99999999/replay")[0], 404)
        s, _, body = self.svc.request("POST", "/v1/admin/export-dead-letter/%d/replay" % event_id)
        self.assertEqual(s, 404)  # not an export event
        actions = [r["action"] for r in json.loads(self.svc.get("/v1/admin/audit?limit=20")[2])["data"]]
        self.assertIn("POST /v1/admin/outbox/{event_id}/replay", actions)

    def test_bulk_replay_by_kind_and_time_with_a_dry_run(self):
        sink.set_mode("554")
        keys = [self.booking_for("smtp-bulk-%d@example.com" % i) for i in range(3)]
        self.assertTrue(wait_until(lambda: all(status_of(k) == "dead" for k in keys), timeout=15))
        sink.set_mode("accept")
        since = q("SELECT to_char(min(dead_at) AT TIME ZONE 'UTC' - interval '1 second', "
                  "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM outbox_events WHERE dedupe_key IN (%s)"
                  % ",".join("'%s'" % k for k in keys))
        s, _, body = self.svc.request("POST", "/v1/admin/outbox/dead-letter/replay?kind=email&dry_run=true&from="
                                      + since)
        self.assertEqual(s, 200, body)
        preview = json.loads(body)
        self.assertTrue(preview["dry_run"])
        self.assertGreaterEqual(preview["would_replay"], 3)
        self.assertTrue(all(status_of(k) == "dead" for k in keys))  # nothing changed
        s, _, body = self.svc.request("POST", "/v1/admin/outbox/dead-letter/replay?kind=email&from=" + since)
        self.assertEqual(s, 200, body)
        self.assertGreaterEqual(json.loads(body)["replayed"], 3)
        self.assertTrue(wait_until(lambda: all(status_of(k) == "delivered" for k in keys), timeout=15))
        s, _, body = self.svc.request("POST", "/v1/admin/outbox/dead-letter/replay?kind=pigeon")
        self.assertEqual(s, 422)


class SmtpAuthTest(unittest.TestCase):
    def test_smtp_auth_and_wrong_credentials_are_retried_not_buried(self):
        secured = SmtpSink(auth="clean:s3cret-smtp").start()
        try:
            svc = start_service(SMTP_URL=secured.url, SMTP_USERNAME="clean", SMTP_PASSWORD="s3cret-smtp")
            try:
                api = Api(svc, api_key)
                c = api.customer(email="auth-ok@example.com")
                key = "booking:%d:created" % api.booking(c["id"], scheduled_at=iso(86400 * 7))["id"]
                self.assertTrue(wait_until(lambda: status_of(key) == "delivered", timeout=15), event(key))
                self.assertEqual(len([m for m in secured.messages() if "auth-ok@example.com" in m["X-Envelope-To"]]),
                                 1)
                self.assertNotIn("s3cret-smtp", "\n".join(svc.lines))
            finally:
                svc.stop()
            # A wrong password is our configuration: retried once fixed, never dead.
            svc = start_service(SMTP_URL=secured.url, SMTP_USERNAME="clean", SMTP_PASSWORD="wrong-password")
            try:
                api = Api(svc, api_key)
                c = api.customer(email="auth-bad@example.com")
                key = "booking:%d:created" % api.booking(c["id"], scheduled_at=iso(86400 * 7))["id"]
                self.assertTrue(wait_until(lambda: status_of(key) == "retry", timeout=15), event(key))
                self.assertIn("535", event(key))
                self.assertNotIn("wrong-password", "\n".join(svc.lines))
            finally:
                svc.stop()
        finally:
            secured.destroy()


class BreakerTest(unittest.TestCase):
    """The sink goes down: the breaker opens, nothing burns to dead; back up:
    half-open, closed, everything delivered."""

    BREAKER = {"EMAIL_BREAKER_WINDOW": "4", "EMAIL_BREAKER_MIN_CALLS": "2", "EMAIL_BREAKER_OPEN_SECONDS": "2",
               "EMAIL_BREAKER_HALF_OPEN_CALLS": "1", "EMAIL_MAX_ATTEMPTS": "3"}

    def test_sink_down_opens_the_breaker_and_nothing_goes_dead(self):
        sink.set_mode("accept")
        svc = start_service(**self.BREAKER)
        api = Api(svc, api_key)
        try:
            sink.stop()
            c = api.customer(email="breaker@example.com")
            keys = ["booking:%d:created" % api.booking(c["id"], scheduled_at=iso(86400 * (3 + i)))["id"]
                    for i in range(8)]
            self.assertTrue(wait_until(lambda: metric(svc, "circuit_state", circuit="email") == 1, timeout=15))
            s, _, body = svc.get_json("/v1/admin/circuits")
            email_circuit = [x for x in body["circuits"] if x["name"] == "email"][0]
            self.assertEqual(email_circuit["state"], "open")
            self.assertIn("failed", email_circuit["last_transition"]["reason"])
            # Keep it down for several dispatch rounds: deferred, never dead,
            # attempts not used up (EMAIL_MAX_ATTEMPTS is only 3).
            for k in keys:
                q("UPDATE outbox_events SET next_attempt_at = now() WHERE dedupe_key = '%s' AND status <> 'delivered'"
                  % k)
            time.sleep(5)
            statuses = [status_of(k) for k in keys]
            self.assertNotIn("dead", statuses)
            self.assertGreaterEqual(metric(svc, "email_adapter_outcomes_total", status="circuit_open"), 1)
            self.assertGreaterEqual(metric(svc, "circuit_transitions_total", circuit="email", to="open"), 1)
            self.assertGreaterEqual(metric(svc, "circuit_transitions_total", circuit="email", to="half_open"), 1)
            self.assertTrue(svc.events("circuit_transition"))

            sink.start()  # same port
            for k in keys:
                q("UPDATE outbox_events SET next_attempt_at = now() WHERE dedupe_key = '%s' AND status <> 'delivered'"
                  % k)
            self.assertTrue(wait_until(lambda: all(status_of(k) == "delivered" for k in keys), timeout=30),
                            [event(k) for k in keys])
            self.assertEqual(metric(svc, "circuit_state", circuit="email"), 0)
            self.assertGreaterEqual(metric(svc, "circuit_transitions_total", circuit="email", to="closed"), 1)
            self.assertEqual(len(to("breaker@example.com")), len(keys))
        finally:
            if sink.proc is None:
                sink.start()
            svc.stop()

    def test_on_call_forces_the_breaker_open_and_resets_it(self):
        sink.set_mode("accept")
        svc = start_service(**self.BREAKER)
        api = Api(svc, api_key)
        try:
            s, _, body = svc.request("POST", "/v1/admin/circuits/email/force-open",
                                     headers={"X-Audit-Reason": "INC-42 provider maintenance"})
            self.assertEqual(s, 200, body)
            body = json.loads(body)
            self.assertEqual(body["breaker"]["state"], "forced_open")
            self.assertEqual(q("SELECT state || '|' || set_by || '|' || reason FROM circuit_overrides "
                               "WHERE circuit = 'email'"), "forced_open|oncall|INC-42 provider maintenance")
            self.assertEqual(metric(svc, "circuit_state", circuit="email"), 1)
            c = api.customer(email="forced@example.com")
            key = "booking:%d:created" % api.booking(c["id"], scheduled_at=iso(86400 * 5))["id"]
            time.sleep(3)
            self.assertEqual(status_of(key), "pending")  # deferred, not failed
            self.assertEqual(event(key).split("|")[1], "0")
            self.assertEqual(to("forced@example.com"), [])

            # A second instance follows the stored override.
            other = start_service(**self.BREAKER)
            try:
                self.assertTrue(wait_until(lambda: metric(other, "circuit_state", circuit="email") == 1, timeout=15))
            finally:
                other.stop()

            s, _, body = svc.request("POST", "/v1/admin/circuits/email/reset")
            self.assertEqual(s, 200, body)
            self.assertEqual(json.loads(body)["breaker"]["state"], "closed")
            self.assertEqual(q("SELECT count(*) FROM circuit_overrides"), "0")
            q("UPDATE outbox_events SET next_attempt_at = now() WHERE dedupe_key = '%s'" % key)
            self.assertTrue(wait_until(lambda: status_of(key) == "delivered", timeout=15), event(key))
            self.assertEqual(svc.request("POST", "/v1/admin/circuits/nope/force-open")[0], 404)
            rows = [r for r in json.loads(svc.get("/v1/admin/audit?limit=20")[2])["data"]
                    if r["action"].startswith("POST /v1/admin/circuits/")]
            self.assertTrue(any(r["target"] == "email" and r["reason"] == "INC-42 provider maintenance"
                                for r in rows))
        finally:
            q("DELETE FROM circuit_overrides")
            svc.stop()


class FakeSendGrid(http.server.BaseHTTPRequestHandler):
    requests = []
    answer = 202

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        FakeSendGrid.requests.append((self.path, dict(self.headers), json.loads(body)))
        self.send_response(FakeSendGrid.answer)
        payload = b'{"errors":[{"message":"bad"}]}' if FakeSendGrid.answer >= 400 else b""
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


class SendGridTest(unittest.TestCase):
    def test_sendgrid_adapter_against_a_local_server(self):
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeSendGrid)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        svc = start_service(EMAIL_ADAPTER="sendgrid", SENDGRID_API_KEY="SG.e2e-secret-key",
                            SENDGRID_BASE_URL="http://127.0.0.1:%d" % server.server_address[1])
        api = Api(svc, api_key)
        try:
            c = api.customer(name="Sam Grid", email="sendgrid@example.com")
            key = "booking:%d:created" % api.booking(c["id"], scheduled_at=iso(86400 * 4))["id"]
            self.assertTrue(wait_until(lambda: status_of(key) == "delivered", timeout=15), event(key))
            path, headers, body = [r for r in FakeSendGrid.requests
                                   if r[2]["personalizations"][0]["to"][0]["email"] == "sendgrid@example.com"][0]
            self.assertEqual(path, "/v3/mail/send")
            self.assertEqual(headers["Authorization"], "Bearer SG.e2e-secret-key")
            self.assertEqual(body["personalizations"][0]["to"][0]["name"], "Sam Grid")
            self.assertIn("is booked", body["subject"])
            self.assertEqual([p["type"] for p in body["content"]], ["text/plain", "text/html"])
            self.assertRegex(body["headers"]["X-Clean-Message-ID"], r"^<[0-9a-f]{32}@clean-service>$")
            # A 400 is this message's fault: dead at once, with SendGrid's answer.
            FakeSendGrid.answer = 400
            c = api.customer(email="sendgrid-bad@example.com")
            key = "booking:%d:created" % api.booking(c["id"], scheduled_at=iso(86400 * 4))["id"]
            self.assertTrue(wait_until(lambda: status_of(key) == "dead", timeout=15), event(key))
            self.assertIn("400", event(key))
            # The key never shows in logs or metrics.
            self.assertNotIn("SG.e2e-secret-key", "\n".join(svc.lines))
            self.assertNotIn("SG.e2e-secret-key", svc.get("/metrics")[2].decode())
        finally:
            FakeSendGrid.answer = 202
            svc.stop()
            server.shutdown()
            server.server_close()


class FakeTwilio(http.server.BaseHTTPRequestHandler):
    requests = []
    answer = 201

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        FakeTwilio.requests.append((self.path, dict(self.headers), urllib.parse.parse_qs(body)))
        payload = b'{"sid":"SM1","status":"queued"}' if FakeTwilio.answer < 300 else b'{"code":21211}'
        self.send_response(FakeTwilio.answer)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


class SmsTest(unittest.TestCase):
    """Booking reminders also go by SMS to customers with a phone, through
    the same outbox, with the SMS channel's own breaker and dead letters."""

    def test_reminders_go_by_sms_with_their_own_breaker(self):
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeTwilio)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        sink.set_mode("accept")
        svc = start_service(SMS_ADAPTER="twilio", TWILIO_ACCOUNT_SID="AC123", TWILIO_AUTH_TOKEN="tw-e2e-secret",
                            TWILIO_FROM="+15005550006", TWILIO_BASE_URL="http://127.0.0.1:%d" % server.server_address[1],
                            JOB_BOOKING_REMINDERS_SCHEDULE="1s", SMS_BREAKER_MIN_CALLS="2", SMS_BREAKER_WINDOW="4",
                            SMS_BREAKER_OPEN_SECONDS="60")
        api = Api(svc, api_key)
        try:
            with_phone = api.customer(name="Pat Phone", email="sms-yes@example.com", phone="+15551230001")
            without = api.customer(name="No Phone", email="sms-no@example.com")
            b1 = api.booking(with_phone["id"], scheduled_at=iso(3600), address="7 Harbour Rd")
            b2 = api.booking(without["id"], scheduled_at=iso(3600))
            sms_key = "booking:%d:reminder:sms" % b1["id"]
            self.assertTrue(wait_until(lambda: status_of(sms_key) == "delivered", timeout=20), event(sms_key))
            self.assertEqual(q("SELECT count(*) FROM outbox_events WHERE dedupe_key = 'booking:%d:reminder:sms'"
                               % b2["id"]), "0")
            self.assertTrue(wait_until(lambda: status_of("booking:%d:reminder" % b1["id"]) == "delivered"))
            path, headers, form = [r for r in FakeTwilio.requests if r[2]["To"] == ["+15551230001"]][0]
            self.assertEqual(path, "/2010-04-01/Accounts/AC123/Messages.json")
            self.assertEqual(headers["Authorization"],
                             "Basic " + base64.b64encode(b"AC123:tw-e2e-secret").decode())
            self.assertEqual(form["From"], ["+15005550006"])
            self.assertIn("7 Harbour Rd", form["Body"][0])
            self.assertGreaterEqual(metric(svc, "sms_notifications_total", status="sent"), 1)
            self.assertEqual(metric(svc, "circuit_state", circuit="sms"), 0)

            # An invalid number is the message's fault: dead, in the DLQ with its kind.
            FakeTwilio.answer = 400
            bad = api.customer(name="Bad Number", email="sms-bad@example.com", phone="+1000")
            b3 = api.booking(bad["id"], scheduled_at=iso(3600))
            bad_key = "booking:%d:reminder:sms" % b3["id"]
            self.assertTrue(wait_until(lambda: status_of(bad_key) == "dead", timeout=20), event(bad_key))
            s, _, dead = svc.get_json("/v1/admin/outbox/dead-letter?kind=sms")
            self.assertIn(bad_key, [e["dedupe_key"] for e in dead["data"]])

            # Twilio down: the SMS breaker opens; email is not affected.
            FakeTwilio.answer = 503
            down = []
            for i in range(3):
                c = api.customer(name="Down %d" % i, email="sms-down-%d@example.com" % i, phone="+1555123100%d" % i)
                down.append("booking:%d:reminder:sms" % api.booking(c["id"], scheduled_at=iso(3600))["id"])
            self.assertTrue(wait_until(lambda: metric(svc, "circuit_state", circuit="sms") == 1, timeout=20))
            self.assertEqual(metric(svc, "circuit_state", circuit="email"), 0)
            self.assertTrue(wait_until(lambda: all(status_of(k) in ("pending", "retry") for k in down), timeout=10))
            self.assertTrue(wait_until(lambda: (metric(svc, "sms_notifications_total", status="circuit_open") or 0) >= 1,
                                       timeout=10))
            s, _, circuits = svc.get_json("/v1/admin/circuits")
            self.assertEqual({c["name"]: c["state"] for c in circuits["circuits"]}["sms"], "open")
            self.assertNotIn("tw-e2e-secret", "\n".join(svc.lines))
        finally:
            FakeTwilio.answer = 201
            svc.stop()
            server.shutdown()
            server.server_close()


class FakeIntegration(http.server.BaseHTTPRequestHandler):
    requests = []
    answer = 200

    def do_POST(self):
        raw = self.rfile.read(int(self.headers["Content-Length"]))
        FakeIntegration.requests.append((self.path, dict(self.headers), raw))
        self.send_response(FakeIntegration.answer)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


class WebhookTest(unittest.TestCase):
    """Business events reach an integration as signed webhooks, through the
    same outbox: retried, dead when refused, replayable."""

    SECRET = "whsec-e2e-0123456789"

    def test_signed_webhooks_with_retries_dead_letters_and_replay(self):
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeIntegration)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        svc = start_service(INTEGRATION_WEBHOOK_URL="http://127.0.0.1:%d/hooks" % server.server_address[1],
                            INTEGRATION_WEBHOOK_SECRET=self.SECRET, WEBHOOK_MAX_ATTEMPTS="2")
        api = Api(svc, api_key)
        try:
            c = api.customer(email="hooks@example.com")
            b = api.booking(c["id"], scheduled_at=iso(86400 * 9))
            key = "booking:%d:created:webhook" % b["id"]
            self.assertTrue(wait_until(lambda: status_of(key) == "delivered", timeout=15), event(key))
            path, headers, raw = [r for r in FakeIntegration.requests
                                  if json.loads(r[2])["data"]["id"] == b["id"]][0]
            body = json.loads(raw)
            self.assertEqual(path, "/hooks")
            self.assertEqual(body["type"], "booking.created")
            self.assertEqual(body["data"]["status"], "scheduled")
            self.assertEqual(headers["Clean-Event-Id"], body["id"])
            # The receiver checks the signature as it would a Stripe one.
            parts = dict(p.split("=", 1) for p in headers["Clean-Signature"].split(","))
            expected = hmac.new(self.SECRET.encode(), parts["t"].encode() + b"." + raw, hashlib.sha256).hexdigest()
            self.assertTrue(hmac.compare_digest(parts["v1"], expected))
            self.assertLess(abs(int(parts["t"]) - time.time()), 60)

            api.post("/v1/bookings/%d/cancel" % b["id"])
            cancel_key = "booking:%d:cancelled:webhook" % b["id"]
            self.assertTrue(wait_until(lambda: status_of(cancel_key) == "delivered", timeout=15), event(cancel_key))

            # The receiver fails: retried, then dead after WEBHOOK_MAX_ATTEMPTS; replayed once it is back.
            FakeIntegration.answer = 503
            b2 = api.booking(c["id"], scheduled_at=iso(86400 * 10))
            key2 = "booking:%d:created:webhook" % b2["id"]
            self.assertTrue(wait_until(lambda: status_of(key2) == "retry", timeout=15), event(key2))
            q("UPDATE outbox_events SET next_attempt_at = now() WHERE dedupe_key = '%s'" % key2)
            self.assertTrue(wait_until(lambda: status_of(key2) == "dead", timeout=15), event(key2))
            self.assertIn("503", event(key2))
            FakeIntegration.answer = 200
            event_id = int(q("SELECT id FROM outbox_events WHERE dedupe_key = '%s'" % key2))
            self.assertEqual(svc.request("POST", "/v1/admin/outbox/%d/replay" % event_id)[0], 200)
            self.assertTrue(wait_until(lambda: status_of(key2) == "delivered", timeout=15), event(key2))

            # Refused for good (a 4xx): dead at once.
            FakeIntegration.answer = 400
            b3 = api.booking(c["id"], scheduled_at=iso(86400 * 11))
            key3 = "booking:%d:created:webhook" % b3["id"]
            self.assertTrue(wait_until(lambda: status_of(key3) == "dead", timeout=15), event(key3))
            self.assertEqual(event(key3).split("|")[1], "1")
            self.assertNotIn(self.SECRET, "\n".join(svc.lines))
        finally:
            FakeIntegration.answer = 200
            svc.stop()
            server.shutdown()
            server.server_close()


class CrashTest(unittest.TestCase):
    def test_kill_9_during_a_burst_of_1000_emails(self):
        sink.set_mode("accept")
        svc = start_service(JOB_LEASE_SECONDS="3")
        api = Api(svc, api_key)
        c = api.customer(email="burst@example.com")
        b = api.booking(c["id"], scheduled_at=iso(86400 * 6))
        svc.stop()
        before = sink.count()
        q("INSERT INTO outbox_events (kind, dedupe_key, payload) SELECT 'email', 'burst:' || g, "
          "jsonb_build_object('template', 'booking_confirmation', 'booking_id', %d) "
          "FROM generate_series(1, 1000) g" % b["id"])
        delivered = lambda: int(q("SELECT count(*) FROM outbox_events WHERE dedupe_key LIKE 'burst:%' "
                                  "AND status = 'delivered'"))
        svc = start_service(JOB_LEASE_SECONDS="3")
        try:
            self.assertTrue(wait_until(lambda: sink.count() - before >= 300, timeout=60))
            svc.proc.send_signal(signal.SIGKILL)
            svc.proc.wait()
            at_kill = delivered()
        finally:
            svc.stop()
        svc = start_service(JOB_LEASE_SECONDS="3")
        try:
            self.assertTrue(wait_until(lambda: delivered() == 1000, timeout=120), delivered())
        finally:
            svc.stop()
        self.assertLess(at_kill, 1000)
        expected = {"<%s@clean-service>" % hashlib.sha256(("burst:%d" % i).encode()).hexdigest()[:32]
                    for i in range(1, 1001)}
        ids = [m["Message-ID"] for m in sink.messages() if m["Message-ID"] in expected]
        unique = set(ids)
        duplicates = len(ids) - len(unique)
        # Every email arrived; a duplicate is only possible for the one send
        # in flight when the process died (sent, but not yet recorded).
        self.assertEqual(len(unique), 1000)
        self.assertLessEqual(duplicates, 2)
        print("\nkill -9 burst: 1000 emails, %d recorded delivered at the kill, %d duplicate(s) at the sink"
              % (at_kill, duplicates))


if __name__ == "__main__":
    unittest.main()
