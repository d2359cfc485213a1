"""Load clients for the chaos scenarios. Every request is recorded with what
came back, so a scenario can check afterwards that everything the service
acknowledged is still there, and retry what it did not acknowledge the way a
careful client would (same Idempotency-Key, same Stripe event)."""

import hashlib
import hmac
import http.client
import itertools
import json
import threading
import time


def call(port, method, path, body=None, headers=None, timeout=15):
    """(status, parsed body or None, seconds); status 0 when no answer came."""
    started = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        res = conn.getresponse()
        data = res.read()
        try:
            parsed = json.loads(data) if data else None
        except ValueError:
            parsed = None
        return res.status, parsed, time.monotonic() - started
    except (OSError, http.client.HTTPException):
        return 0, None, time.monotonic() - started
    finally:
        conn.close()


def stripe_signature(secret, payload, timestamp=None):
    """The Stripe-Signature header as Stripe computes it (v1 = HMAC-SHA256 of
    "<t>.<body>")."""
    t = int(timestamp or time.time())
    mac = hmac.new(secret.encode(), ("%d.%s" % (t, payload)).encode(), hashlib.sha256).hexdigest()
    return "t=%d,v1=%s" % (t, mac)


def message_id(dedupe_key):
    """The Message-ID the service gives the email of an outbox event."""
    return "<%s@clean-service>" % hashlib.sha256(dedupe_key.encode()).hexdigest()[:32]


class Write:
    """One client write: enough to check it and to retry it unchanged."""

    def __init__(self, kind, key, path, body, headers):
        self.kind = kind  # customer | booking | webhook | complete
        self.key = key    # Idempotency-Key, or the Stripe event id
        self.path = path
        self.body = body
        self.headers = headers
        self.status = None
        self.answer = None
        self.seconds = None

    def copy(self):
        """The same request again, not yet sent (a webhook is re-signed when
        sent, as Stripe signs every attempt afresh)."""
        return Write(self.kind, self.key, self.path, self.body, self.headers)

    @property
    def acked(self):
        return self.status is not None and 200 <= self.status < 300


class MixedLoad:
    """Threads that create customers and bookings (with Idempotency-Keys) and
    deliver signed Stripe payment events for prepared invoices, until
    stopped. `port` is a callable so the load can follow a restart."""

    def __init__(self, port, api_key, webhook_secret=None, customer_id=None, invoices=(), threads=6, tag="chaos"):
        self.port = port
        self.api_key = api_key
        self.secret = webhook_secret
        self.customer_id = customer_id
        self.invoices = list(invoices)
        self.threads = threads
        self.tag = tag
        self.writes = []
        self.reads = []  # (started monotonic, status, seconds)
        self._lock = threading.Lock()
        self._seq = itertools.count()
        self._stop = threading.Event()
        self._workers = []

    # -- the requests ---------------------------------------------------------

    def _api_headers(self, key):
        return {"Authorization": "Bearer " + self.api_key, "Content-Type": "application/json",
                "Idempotency-Key": key}

    def customer_write(self, n):
        key = "%s-c-%d" % (self.tag, n)
        body = json.dumps({"name": "chaos " + key, "email": "%s@example.com" % key})
        return Write("customer", key, "/v1/customers", body, self._api_headers(key))

    def booking_write(self, n):
        key = "%s-b-%d" % (self.tag, n)
        body = json.dumps({"customer_id": self.customer_id, "scheduled_at": "2030-06-01T09:00:00Z",
                           "duration_minutes": 90, "address": key, "price_cents": 5000, "currency": "EUR"})
        return Write("booking", key, "/v1/bookings", body, self._api_headers(key))

    def webhook_write(self, invoice):
        event_id = "evt_%s_%d" % (self.tag, invoice["id"])
        obj = {"id": invoice.get("stripe_payment_intent_id") or "pi_%s_%d" % (self.tag, invoice["id"]),
               "object": "payment_intent", "amount": invoice["amount_cents"],
               "currency": invoice["currency"].lower(), "status": "succeeded",
               "metadata": {"invoice_id": str(invoice["id"])}}
        payload = json.dumps({"id": event_id, "object": "event", "type": "payment_intent.succeeded",
                              "created": int(time.time()), "livemode": False, "data": {"object": obj}})
        return Write("webhook", event_id, "/v1/webhooks/stripe", payload, {"Content-Type": "application/json"})

    def send(self, w, timeout=15):
        headers = dict(w.headers)
        if w.kind == "webhook":
            headers["Stripe-Signature"] = stripe_signature(self.secret, w.body)  # fresh, as Stripe re-signs
        w.status, w.answer, w.seconds = call(self.port(), "POST", w.path, w.body, headers, timeout=timeout)
        return w

    def next_write(self):
        n = next(self._seq)
        kinds = ["customer"] + (["booking"] if self.customer_id else []) + (["webhook"] if self.invoices else [])
        kind = kinds[n % len(kinds)]
        if kind == "webhook":
            with self._lock:
                if not self.invoices:
                    return self.customer_write(n)
                invoice = self.invoices.pop()
            return self.webhook_write(invoice)
        return self.customer_write(n) if kind == "customer" else self.booking_write(n)

    # -- running --------------------------------------------------------------

    def _work(self):
        while not self._stop.is_set():
            w = self.send(self.next_write())
            with self._lock:
                self.writes.append(w)
            if w.status == 0 or w.status >= 500:
                time.sleep(0.1)  # no server, or it asked to retry later: back off as a client would

    def start(self):
        for _ in range(self.threads):
            t = threading.Thread(target=self._work, daemon=True)
            t.start()
            self._workers.append(t)
        return self

    def stop(self):
        self._stop.set()
        for t in self._workers:
            t.join(60)

    def acked(self, kind=None):
        return [w for w in self.writes if w.acked and (kind is None or w.kind == kind)]

    def unacked(self, kind=None):
        return [w for w in self.writes if not w.acked and (kind is None or w.kind == kind)]


class Poller:
    """Requests a path every `interval` seconds from a thread, recording
    (monotonic time, status, seconds); `port` is a callable."""

    def __init__(self, port, path, interval=0.1, timeout=3, headers=None):
        self.port, self.path, self.interval, self.timeout = port, path, interval, timeout
        self.headers = headers or {}
        self.samples = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            at = time.monotonic()
            status, _, seconds = call(self.port(), "GET", self.path, headers=self.headers, timeout=self.timeout)
            self.samples.append((at, status, seconds))
            # Failures come back fast: never spin on them.
            self._stop.wait(self.interval if status == 200 else max(self.interval, 0.02))

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join(max(10, self.timeout + 5))

    def first(self, predicate, after):
        """The first sample time >= after whose status satisfies predicate."""
        for at, status, _ in self.samples:
            if at >= after and predicate(status):
                return at
        return None
