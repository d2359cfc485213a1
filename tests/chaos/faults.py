"""Faults under load: the process killed, PostgreSQL stopped or its backends
terminated, a statement stuck behind a lock, the SMTP server misbehaving, a
crash storm, several instances sharing the jobs, a full disk."""

import json
import os
import signal
import subprocess
import tempfile
import threading
import time

from harness import Api, Service, SmtpSink, create_api_key, metric, migrated_postgres, wait_until
from load import MixedLoad, Poller, call, message_id

SECRET = "whsec_chaos_secret_5f1c"
EMAIL_FAST = {"JOB_POLL_SECONDS": "0.2", "JOB_OUTBOX_DISPATCH_SCHEDULE": "1s", "JOB_EMAIL_DLQ_SCHEDULE": "1s",
              "EMAIL_ADAPTER": "smtp", "SMTP_STARTTLS": "off", "EMAIL_SEND_TIMEOUT_SECONDS": "3",
              "SMTP_CONNECT_TIMEOUT_SECONDS": "1", "ACCESS_LOG": "false"}


def sql_list(values):
    return ",".join("'%s'" % str(v).replace("'", "''") for v in values) or "NULL"


def metric_sum(svc, name):
    """The sum of every series of a metric family (0 when absent)."""
    text = svc.get("/metrics")[2].decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


def error_code(answer):
    return (answer or {}).get("error", {}).get("code") if isinstance(answer, dict) else None


def make_invoices(api, customer_id, count, tag):
    out = []
    for i in range(count):
        b = api.booking(customer_id, scheduled_at="2030-01-01T10:00:00Z", address="%s-inv-%d" % (tag, i))
        status, _, inv = api.post("/v1/invoices", {"booking_id": b["id"], "amount_cents": 4200, "currency": "EUR",
                                                   "due_at": "2030-01-15T00:00:00Z"})
        assert status == 201, inv
        out.append(inv)
    return out


def missing_writes(pg, writes):
    """The acknowledged writes whose record is not in the database."""
    missing = []
    for i in range(0, len(writes), 500):  # keeps each psql command line short
        missing += _missing_writes(pg, writes[i:i + 500])
    return missing


def _missing_writes(pg, writes):
    by_kind = {}
    for w in writes:
        by_kind.setdefault(w.kind, []).append(w)
    missing = []
    if by_kind.get("customer"):
        ws = by_kind["customer"]
        rows = pg.psql("SELECT id || ' ' || name FROM customers WHERE id IN (%s)"
                       % ",".join(str(w.answer["id"]) for w in ws)).splitlines()
        have = set(rows)
        missing += [w for w in ws if "%d chaos %s" % (w.answer["id"], w.key) not in have]
    if by_kind.get("booking"):
        ws = by_kind["booking"]
        have = set(pg.psql("SELECT id || ' ' || address FROM bookings WHERE id IN (%s)"
                           % ",".join(str(w.answer["id"]) for w in ws)).splitlines())
        missing += [w for w in ws if "%d %s" % (w.answer["id"], w.key) not in have]
    if by_kind.get("webhook"):
        ws = by_kind["webhook"]
        applied = set(pg.psql("SELECT e.id FROM stripe_events e JOIN invoices i ON i.id = e.invoice_id "
                              "WHERE e.status = 'applied' AND i.status = 'paid' AND e.id IN (%s)"
                              % sql_list(w.key for w in ws)).splitlines())
        missing += [w for w in ws if w.key not in applied]
    return missing


def duplicated_keys(pg, tag):
    """Idempotency keys that made more than one record."""
    rows = pg.psql("SELECT name FROM customers WHERE name LIKE 'chaos %s-%%' GROUP BY name HAVING count(*) > 1 "
                   "UNION ALL SELECT address FROM bookings WHERE address LIKE '%s-b-%%' GROUP BY address "
                   "HAVING count(*) > 1" % (tag, tag))
    return [r for r in rows.splitlines() if r]


def retry_until_acked(load, writes, deadline_s=120):
    """Retries each write (same key, same body) until it is acknowledged;
    returns those that never were."""
    left = list(writes)
    deadline = time.monotonic() + deadline_s
    while left and time.monotonic() < deadline:
        for w in left:
            load.send(w)
        left = [w for w in left if not w.acked]
        if left:
            time.sleep(0.5)
    return left


def email_census(sink, expected_ids):
    """(missing message ids, extra copies) at the sink for the expected ids."""
    seen = {}
    for m in sink.messages():
        mid = m.get("Message-ID", "").strip()
        seen[mid] = seen.get(mid, 0) + 1
    missing = [i for i in expected_ids if i not in seen]
    extra = sum(seen[i] - 1 for i in expected_ids if seen.get(i, 0) > 1)
    return missing, extra


# -- kill -9 -------------------------------------------------------------------

def kill9_under_mixed_load(report, quick):
    scenario = "kill -9 under load"
    tag = "k9%d" % (time.time() * 1000 % 10 ** 8)
    invoices_n, run_s = (60, 3) if quick else (400, 12)
    pg = migrated_postgres()
    sink = SmtpSink().start()
    # In-flight emails of the killed process come back when their claim's
    # lease runs out; a short one keeps the run bounded.
    env = dict(EMAIL_FAST, SMTP_URL=sink.url, STRIPE_WEBHOOK_SECRET=SECRET, JOB_LEASE_SECONDS="5")
    svc = None
    try:
        key = create_api_key(pg.url)
        svc = Service(pg.url, **env).start()
        api = Api(svc, key)
        customer = api.customer(email="%s@example.com" % tag)
        invoices = make_invoices(api, customer["id"], invoices_n, tag)
        current = {"port": svc.port}
        load = MixedLoad(lambda: current["port"], key, SECRET, customer["id"], invoices, threads=6, tag=tag).start()
        time.sleep(run_s)
        svc.proc.send_signal(signal.SIGKILL)
        svc.proc.wait(10)
        time.sleep(0.3)
        load.stop()
        svc.stop()
        restarted = time.monotonic()
        svc = Service(pg.url, **env).start()
        current["port"] = svc.port
        restart_s = time.monotonic() - restarted
        writes = load.writes
        acked, unacked = load.acked(), load.unacked()
        what = "%d writes (customers, bookings, signed webhooks) from 6 threads for %d s, kill -9, restart" % (
            len(writes), run_s)
        report.check(scenario, what, "load was running when the process died",
                     len(acked) > 20 and any(w.status == 0 for w in writes),
                     "%d acknowledged, %d unanswered; restart took %.2f s" % (len(acked), len(unacked), restart_s))
        missing = missing_writes(pg, acked)
        report.check(scenario, what, "every acknowledged write is in the database after the restart",
                     not missing, "%d of %d missing" % (len(missing), len(acked)))
        replays_before = metric(svc, "api_idempotent_replays_total") or 0
        never = retry_until_acked(load, unacked)
        replays = (metric(svc, "api_idempotent_replays_total") or 0) - replays_before
        report.check(scenario, what, "unanswered writes retried with the same Idempotency-Key / event succeed",
                     not never, "%d retried: %d answered from the stored result, %d never acknowledged"
                     % (len(unacked), replays, len(never)))
        dup = duplicated_keys(pg, tag)
        report.check(scenario, what, "no Idempotency-Key made two records", not dup, "%d duplicated" % len(dup))
        acked_hooks = [w for w in acked if w.kind == "webhook"]
        again = [load.send(w.copy()) for w in acked_hooks]
        reapplied = [w for w in again if not (w.acked and w.answer and w.answer.get("result") == "duplicate")]
        applied_rows = int(pg.psql("SELECT count(*) FROM stripe_events WHERE id LIKE 'evt_%s_%%' AND status = "
                                   "'applied'" % tag))
        hooks = len([w for w in writes if w.kind == "webhook"])
        report.check(scenario, what, "each acknowledged webhook was applied exactly once (redelivery: duplicate)",
                     not reapplied and applied_rows == hooks,
                     "%d acknowledged redelivered, %d not 'duplicate'; %d events applied for %d delivered"
                     % (len(acked_hooks), len(reapplied), applied_rows, hooks))
        booking_ids = pg.psql("SELECT id FROM bookings WHERE address LIKE '%s-b-%%'" % tag).split()
        expected = [message_id("booking:%s:created" % i) for i in booking_ids]
        waited = time.monotonic()
        wait_until(lambda: not email_census(sink, expected)[0], timeout=60 if not quick else 30, interval=0.5)
        drained_s = time.monotonic() - waited
        lost, extra = email_census(sink, expected)
        by_id = dict(zip(expected, booking_ids))
        lost_rows = outbox_statuses(pg, ["booking:%s:created" % by_id[m] for m in lost[:200]])
        report.check(scenario, what, "every booking's confirmation email reached the SMTP server", not lost,
                     "%d of %d missing%s; all in %.1f s after the checks (JOB_LEASE_SECONDS=5); %d duplicate "
                     "copies" % (len(lost), len(expected),
                                 " (outbox: %s)" % sorted(set(lost_rows.values())) if lost else "", drained_s, extra))
        report.section("kill -9 under load", (
            "Six client threads create customers and bookings (each with an Idempotency-Key) and deliver "
            "signed `payment_intent.succeeded` events for prepared invoices; the service also sends the "
            "booking confirmation emails to a real SMTP server. After %d s the process gets SIGKILL and is "
            "started again on the same database. The client then retries everything it did not see "
            "answered, with the same key or event, as Stripe and a careful API client do. "
            "An email can reach the SMTP server twice when the process dies between the server's 250 and "
            "the outbox row being marked sent; both copies carry the same Message-ID, so the receiving side "
            "can drop the second. Emails the killed process had claimed but not sent go out once their claim's "
            "lease (`JOB_LEASE_SECONDS`, 5 s here, 300 s by default) has run out. Measured: %d writes, %d acknowledged, %d retried, %d duplicate email "
            "copies, restart %.2f s." % (run_s, len(writes), len(acked), len(unacked), extra, restart_s)))
    finally:
        if svc:
            svc.stop()
        sink.destroy()
        pg.destroy()


def copies_by_message_id(sink):
    seen = {}
    for m in sink.messages():
        mid = m.get("Message-ID", "").strip()
        seen[mid] = seen.get(mid, 0) + 1
    return seen


def kill9_after_delivery(report, quick):
    """Forces the one window where at-least-once shows: the SMTP server has
    stored a message but the process dies before it hears the 250."""
    scenario = "kill -9 after the SMTP server stored a mail"
    count = 5 if quick else 20
    pg = migrated_postgres()
    sink = SmtpSink().start()
    # The server stores each message and then never answers; the send timeout
    # is long so that only the kill ends those transactions.
    env = dict(EMAIL_FAST, SMTP_URL=sink.url, JOB_LEASE_SECONDS="5", EMAIL_SEND_TIMEOUT_SECONDS="120")
    svc = None
    try:
        sink.set_mode("store-stall")
        key = create_api_key(pg.url)
        svc = Service(pg.url, **env).start()
        api = Api(svc, key)
        customer = api.customer(email="window@example.com")
        ids = [api.booking(customer["id"], address="window-%d" % i)["id"] for i in range(count)]
        expected = [message_id("booking:%d:created" % i) for i in ids]
        wait_until(lambda: sink.count() > 0, timeout=30, interval=0.05)
        time.sleep(1.0)  # every sender that will reach the server has done so
        svc.proc.send_signal(signal.SIGKILL)
        svc.proc.wait(10)
        svc.stop()
        stored_at_kill = set(copies_by_message_id(sink))
        sink.set_mode("accept")
        svc = Service(pg.url, **env).start()
        waited = time.monotonic()
        wait_until(lambda: not email_census(sink, expected)[0] and
                   stored_at_kill.issubset({m for m, n in copies_by_message_id(sink).items() if n >= 2}),
                   timeout=60, interval=0.25)
        took = time.monotonic() - waited
        time.sleep(2.0)  # a late third copy would show up here
        lost, _ = email_census(sink, expected)
        copies = copies_by_message_id(sink)
        doubled = {m for m, n in copies.items() if n == 2}
        worse = {m for m, n in copies.items() if n > 2}
        what = "%d booking emails to a server that stores each mail and never answers; kill -9, " \
               "restart with the server answering" % count
        report.check(scenario, what, "the window was hit: the server held mails the process never heard about",
                     stored_at_kill, "%d stored at the kill" % len(stored_at_kill))
        report.check(scenario, what, "no email lost", not lost, "%d of %d missing" % (len(lost), count))
        report.check(scenario, what, "exactly the mails stored at the kill came twice, same Message-ID, none more",
                     doubled == stored_at_kill and not worse,
                     "%d doubled of %d stored at the kill, %d more than twice; resent %.1f s after the restart "
                     "(JOB_LEASE_SECONDS=5)" % (len(doubled), len(stored_at_kill), len(worse), took))
        report.section(scenario, (
            "The other kill -9 run rarely lands in the few microseconds between the SMTP server's 250 and "
            "the outbox row being marked sent, so this one holds that window open: the sink stores every "
            "message and then never answers DATA. The process is killed while those transactions wait. "
            "Its claims on the outbox rows run out after the lease and the restarted process sends them again, "
            "so each mail that had reached the server arrives a second time with the same Message-ID (the "
            "handle a receiving system deduplicates on) and nothing else is repeated. Measured: %d stored at "
            "the kill, %d doubled, %d lost." % (len(stored_at_kill), len(doubled), len(lost))))
    finally:
        if svc:
            svc.stop()
        sink.destroy()
        pg.destroy()


# -- PostgreSQL down -------------------------------------------------------------

def booking_reads(port, key, booking_id, timeout=15):
    """A thread reading one booking back to back."""
    return Poller(port, "/v1/bookings/%d" % booking_id, interval=0, timeout=timeout,
                  headers={"Authorization": "Bearer " + key})


def background_writes(svc, key, tag):
    """Two threads creating customers alongside a fault that is not about
    them (customers only: bookings would queue an email each and crowd out
    the deliveries the scenario watches)."""
    return MixedLoad(lambda: svc.port, key, threads=2, tag=tag).start()


def check_nothing_lost(report, scenario, what, pg, load, tag):
    """Every acknowledged write is stored; every other one succeeds when
    retried with its key; no key made two records."""
    acked, unacked = load.acked(), load.unacked()
    missing = missing_writes(pg, acked)
    never = retry_until_acked(load, unacked)
    report.check(scenario, what, "nothing acknowledged lost; the rest succeeds on retry",
                 not missing and not never and not duplicated_keys(pg, tag),
                 "%d acknowledged, %d missing, %d retried, %d never acknowledged"
                 % (len(acked), len(missing), len(unacked), len(never)))


def postgres_outage(report, quick):
    scenario = "PostgreSQL stopped"
    outage_s = 6 if quick else 30
    tag = "pgo%d" % (time.time() * 1000 % 10 ** 8)
    timeout_s = 2.0
    pg = migrated_postgres()
    svc = None
    try:
        key = create_api_key(pg.url)
        svc = Service(pg.url, API_REQUEST_TIMEOUT_SECONDS=timeout_s, DATABASE_POOL_TIMEOUT_SECONDS=1,
                      ACCESS_LOG="false", READYZ_DB_TIMEOUT_SECONDS="0.5").start()
        pid = svc.proc.pid
        api = Api(svc, key)
        customer = api.customer()
        booking = api.booking(customer["id"])
        port = lambda: svc.port  # noqa: E731
        load = MixedLoad(port, key, customer_id=customer["id"], threads=3, tag=tag).start()
        reads = booking_reads(port, key, booking["id"], timeout=30).start()
        ready = Poller(port, "/readyz", interval=0.1).start()
        time.sleep(2)
        pg.stop()
        down = time.monotonic()
        time.sleep(outage_s)
        pg.start()
        up = time.monotonic()
        wait_until(lambda: ready.first(lambda s: s == 200, up) is not None, timeout=20)
        time.sleep(1)
        load.stop(), reads.stop(), ready.stop()
        what = "3 writer threads + 1 reader, PostgreSQL stopped for %d s" % outage_s
        not_ready = ready.first(lambda s: s == 503, down)
        report.check(scenario, what, "/readyz turns 503 within 5 s",
                     not_ready is not None and not_ready - down <= 5,
                     "after %.2f s" % (not_ready - down) if not_ready else "never")
        during = [s for s in reads.samples if down <= s[0] <= up]
        slowest = max((s[2] for s in during), default=0)
        failed_fast = [s for s in during if s[1] == 503]
        report.check(scenario, what, "requests fail fast with 503 (none waits past the %.0f s budget + 1 s)"
                     % timeout_s, slowest <= timeout_s + 1 and failed_fast,
                     "%d reads during the outage, %d answered 503, slowest %.2f s"
                     % (len(during), len(failed_fast), slowest))
        writes_slowest = max((w.seconds for w in load.writes), default=0)
        statuses = {}
        for w in load.writes:
            statuses[w.status] = statuses.get(w.status, 0) + 1
        report.check(scenario, what, "no write hangs either", writes_slowest <= timeout_s + 1.5,
                     "%d writes (by status: %s), slowest %.2f s" % (
                         len(load.writes), ", ".join("%s: %d" % kv for kv in sorted(statuses.items())),
                         writes_slowest))
        back = ready.first(lambda s: s == 200, up)
        report.check(scenario, what, "ready again within 5 s of PostgreSQL, without a restart",
                     back is not None and back - up <= 5 and svc.proc.poll() is None and svc.proc.pid == pid,
                     "after %.2f s; same process: %s" % ((back - up) if back else -1, svc.proc.poll() is None))
        escalations = len(svc.events("supervisor_escalation"))
        restarts = metric_sum(svc, "actor_restarts_total")
        report.check(scenario, what, "no crash loop: no supervisor escalated", escalations == 0,
                     "%d actor restarts, %d escalations" % (restarts, escalations))
        # A commit cut off by the shutdown is "outcome_unknown" (500): the client
        # cannot know, and retrying with its Idempotency-Key settles it.
        in_doubt = [w for w in load.writes if w.status == 500 and error_code(w.answer) == "outcome_unknown"]
        odd = [(w.status, w.answer) for w in load.writes
               if w.status and w.status >= 500 and w.status != 503 and w not in in_doubt]
        report.check(scenario, what, "a write the database could not take is 503 (or 500 outcome_unknown for "
                     "a commit cut off mid-way), never another 5xx", not odd,
                     "; ".join("%d %s" % (st, json.dumps(a)[:160]) for st, a in odd[:3])
                     or "%d in doubt" % len(in_doubt))
        check_nothing_lost(report, scenario, what, pg, load, tag)
    finally:
        if svc:
            svc.stop()
        pg.destroy()


def terminate_backends(report, quick):
    scenario = "pg_terminate_backend"
    tag = "pgt%d" % (time.time() * 1000 % 10 ** 8)
    pg = migrated_postgres()
    svc = None
    try:
        key = create_api_key(pg.url)
        svc = Service(pg.url, API_REQUEST_TIMEOUT_SECONDS=2, ACCESS_LOG="false").start()
        api = Api(svc, key)
        customer = api.customer()
        booking = api.booking(customer["id"])
        port = lambda: svc.port  # noqa: E731
        load = MixedLoad(port, key, customer_id=customer["id"], threads=3, tag=tag).start()
        reads = booking_reads(port, key, booking["id"]).start()
        time.sleep(1.5)
        errors_before = metric_sum(svc, "db_errors_total")
        killed = int(pg.psql("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE "
                             "datname = 'clean_service' AND pid <> pg_backend_pid() AND "
                             "backend_type = 'client backend'"))
        at = time.monotonic()
        time.sleep(3 if quick else 6)
        load.stop(), reads.stop()
        what = "3 writers + 1 reader; every service backend terminated at once"
        after = [s for s in reads.samples if s[0] >= at]
        failed = [s for s in after if s[1] != 200]
        last_failure = max((s[0] for s in failed), default=at) - at
        report.check(scenario, what, "the pool reconnects and serves again within 2 s",
                     killed > 0 and last_failure <= 2 and any(s[1] == 200 for s in after),
                     "%d backends terminated; %d of %d reads after it failed, the last %.2f s after"
                     % (killed, len(failed), len(after), last_failure))
        errors = metric_sum(svc, "db_errors_total") - errors_before
        report.check(scenario, what, "broken connections are counted in db_errors_total", errors > 0 or not failed,
                     "+%d" % errors)
        check_nothing_lost(report, scenario, what, pg, load, tag)
    finally:
        if svc:
            svc.stop()
        pg.destroy()


def hung_statement(report, quick):
    scenario = "statement stuck on a lock"
    timeout_s = 1.5
    pg = migrated_postgres()
    svc = None
    holder = None
    try:
        key = create_api_key(pg.url)
        svc = Service(pg.url, API_REQUEST_TIMEOUT_SECONDS=timeout_s, ACCESS_LOG="false").start()
        api = Api(svc, key)
        customer = api.customer()
        stuck = api.booking(customer["id"])
        other = api.booking(customer["id"])
        port = lambda: svc.port  # noqa: E731
        hold_s = 5
        holder = subprocess.Popen(
            ["/usr/lib/postgresql/15/bin/psql", "-h", "127.0.0.1", "-p", open(os.path.join(pg.dir, "port")).read()
             .strip(), "-U", "postgres", "-d", "clean_service", "-Atqc",
             "BEGIN; SELECT id FROM bookings WHERE id = %d FOR UPDATE; SELECT pg_sleep(%d); COMMIT;"
             % (stuck["id"], hold_s)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: pg.psql("SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                                   "WHERE a.query LIKE '%%pg_sleep%%' AND l.mode = 'RowShareLock'") != "0", timeout=5)
        timeouts_before = metric_sum(svc, "db_errors_total")
        reads = booking_reads(port, key, other["id"]).start()
        results = []

        def complete():
            results.append(call(svc.port, "POST", "/v1/bookings/%d/complete" % stuck["id"], "{}",
                                {"Authorization": "Bearer " + key, "Content-Type": "application/json"}, timeout=30))

        threads = [threading.Thread(target=complete) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        reads.stop()
        what = "4 requests on a row another session holds FOR UPDATE for %d s, reads of another row" % hold_s
        slowest = max(r[2] for r in results)
        report.check(scenario, what, "each stuck request is answered 503 at its %.1f s deadline" % timeout_s,
                     all(r[0] == 503 for r in results) and slowest <= timeout_s + 1,
                     "statuses %s, slowest %.2f s" % (sorted(r[0] for r in results), slowest))
        ok_reads = [s for s in reads.samples if s[1] == 200]
        report.check(scenario, what, "other requests keep being served meanwhile",
                     ok_reads and len(ok_reads) == len(reads.samples),
                     "%d of %d reads ok" % (len(ok_reads), len(reads.samples)))
        # The answer goes out at the deadline; the cancel lands on the server
        # just after, and that is when the failed statement is counted.
        wait_until(lambda: metric_sum(svc, "db_errors_total") - timeouts_before >= len(results), timeout=5)
        counted = metric_sum(svc, "db_errors_total") - timeouts_before
        timeouts = metric(svc, "db_errors_total", kind="timeout") or 0
        report.check(scenario, what, "the cancelled statements are counted", counted >= len(results),
                     "db_errors_total +%d (kind=\"timeout\": %d)" % (counted, timeouts))
        holder.wait(hold_s + 10)
        status, body, _ = call(svc.port, "POST", "/v1/bookings/%d/complete" % stuck["id"], "{}",
                               {"Authorization": "Bearer " + key, "Content-Type": "application/json"})
        in_use = wait_until(lambda: metric(svc, "db_pool_connections", state="busy") == 0, timeout=5)
        report.check(scenario, what, "once the lock is gone the same request succeeds and the pool is idle",
                     status == 200 and in_use, "status %d; busy connections back to 0: %s" % (status, bool(in_use)))
    finally:
        if holder and holder.poll() is None:
            holder.kill()
            holder.wait()
        if svc:
            svc.stop()
        pg.destroy()


def crash_storm(report, quick):
    scenario = "crash storm"
    pg = migrated_postgres()
    svc = None
    try:
        key = create_api_key(pg.url)
        svc = Service(pg.url, FAULT_INJECTION=1, ACCESS_LOG="false").start()
        tag = "cs%d" % (time.time() * 1000 % 10 ** 8)
        writes = background_writes(svc, key, tag)
        health = Poller(lambda: svc.port, "/healthz", interval=0.05).start()
        crash_times = []
        for i in range(4):
            def running():
                status, _, tree = svc.get_json("/v1/admin/supervisor")
                node = find_node(tree, "root/jobs") if status == 200 else None
                return node and node["state"] == "running" and node["restarts"] == i
            if not wait_until(running, timeout=15):
                break
            crash_times.append(time.monotonic())
            svc.request("POST", "/v1/admin/supervisor/root/jobs/crash")
        code = svc.wait(30)
        exited = time.monotonic()
        health.stop()
        writes.stop()
        missing = missing_writes(pg, writes.acked())
        report.check(scenario, "2 writer threads until the process ended", "every acknowledged write is stored",
                     not missing and writes.acked(), "%d acknowledged, %d missing" % (len(writes.acked()),
                                                                                     len(missing)))
        what = "root/jobs crashed 4 times in a row (the root allows 3 restarts a minute), /healthz polled"
        before_last = [s for s in health.samples if s[0] < crash_times[-1]] if crash_times else []
        report.check(scenario, what, "the first 3 crashes are restarted and /healthz stays 200 meanwhile",
                     len(crash_times) == 4 and all(s[1] == 200 for s in before_last),
                     "%d restarts observed; %d health checks before the last crash, %d not 200"
                     % (len(crash_times) - 1, len(before_last), sum(1 for s in before_last if s[1] != 200)))
        report.check(scenario, what, "the 4th escalates to the root, which ends the process non-zero",
                     code not in (0, None) and svc.events("supervisor_escalation")
                     and svc.events("supervision_root_failed"),
                     "exit code %s, %.2f s after the last crash" % (code, exited - crash_times[-1]
                                                                    if crash_times else -1))
    finally:
        if svc:
            svc.stop()
        pg.destroy()


def find_node(node, path):
    """The supervisor-tree node at `path` (as test_supervision's `find`)."""
    if node.get("path") == path:
        return node
    for child in node.get("children", []) or []:
        found = find_node(child, path)
        if found:
            return found
    return None


# -- SMTP server misbehaving ------------------------------------------------------

def outbox_statuses(pg, keys):
    rows = pg.psql("SELECT dedupe_key || '|' || status FROM outbox_events WHERE dedupe_key IN (%s)" % sql_list(keys))
    return dict(r.split("|", 1) for r in rows.splitlines() if r)


def hurry(pg, keys):
    """Makes deferred sends due now, so a bounded run need not wait out the backoff."""
    pg.psql("UPDATE outbox_events SET next_attempt_at = now() WHERE dedupe_key IN (%s) AND status <> 'delivered'"
            % sql_list(keys))


def smtp_faults(report, quick):
    scenario = "SMTP server faults"
    breaker = {"EMAIL_BREAKER_WINDOW": "4", "EMAIL_BREAKER_MIN_CALLS": "2", "EMAIL_BREAKER_OPEN_SECONDS": "2",
               "EMAIL_BREAKER_HALF_OPEN_CALLS": "1", "EMAIL_MAX_ATTEMPTS": "3", "EMAIL_SEND_TIMEOUT_SECONDS": "2"}
    pg = migrated_postgres()
    sink = SmtpSink().start()
    svc = None
    try:
        key = create_api_key(pg.url)
        svc = Service(pg.url, **dict(EMAIL_FAST, SMTP_URL=sink.url, **breaker)).start()
        api = Api(svc, key)
        customer = api.customer(email="smtp-chaos@example.com")
        tag = "smtp%d" % (time.time() * 1000 % 10 ** 8)
        writes = background_writes(svc, key, tag)
        n = 6 if quick else 20

        def bookings(count, offset):
            return ["booking:%d:created" % api.booking(customer["id"], address="smtp-%d" % (offset + i))["id"]
                    for i in range(count)]

        # Down: the breaker opens, nothing is burnt to dead; back: all delivered.
        sink.stop()
        down = time.monotonic()
        keys = bookings(n, 0)
        opened = wait_until(lambda: metric(svc, "circuit_state", circuit="email") == 1, timeout=20)
        open_s = time.monotonic() - down
        # Left to its own backoff while down: hurrying every send would make
        # the same event the breaker's trial call each time.
        time.sleep(4)
        dead_while_down = [k for k, s in outbox_statuses(pg, keys).items() if s == "dead"]
        sink.start()
        back = time.monotonic()
        delivered = wait_until(lambda: (hurry(pg, keys), all(s == "delivered" for s in
                                                             outbox_statuses(pg, keys).values()))[1], timeout=40,
                               interval=0.5)
        drain_s = time.monotonic() - back
        what = "%d booking emails while the SMTP server is down for ~5 s" % n
        report.check(scenario, what, "the email breaker opens", opened, "open after %.1f s" % open_s)
        report.check(scenario, what, "nothing is dead-lettered while it is down", not dead_while_down,
                     "%d dead" % len(dead_while_down))
        report.check(scenario, what, "all delivered once it is back, breaker closed",
                     delivered and metric(svc, "circuit_state", circuit="email") == 0,
                     "drained %.1f s after the server came back" % drain_s)

        # Rejecting permanently: straight to the dead-letter queue, with the reason.
        sink.set_mode("554")
        rejected = bookings(2, 1000)
        dead = wait_until(lambda: (hurry(pg, rejected), all(s == "dead" for s in
                                                            outbox_statuses(pg, rejected).values()))[1], timeout=30,
                          interval=0.5)
        depth = wait_until(lambda: metric_sum(svc, "email_dlq_messages") >= 2, timeout=10) and metric_sum(svc, "email_dlq_messages")
        report.check(scenario, "2 emails, the server answers 554", "permanent rejections go to the DLQ", dead,
                     "email_dlq_messages %s" % (depth or metric_sum(svc, "email_dlq_messages")))

        # Stalling: each send gives up at its timeout; the API keeps answering.
        sink.set_mode("stall")
        stalled = bookings(2, 2000)
        time.sleep(1)
        started = time.monotonic()
        health = [call(svc.port, "GET", "/healthz", timeout=5) for _ in range(20)]
        api_ok = api.get("/v1/customers/%d" % customer["id"])[0] == 200
        slowest = max(h[2] for h in health)
        report.check(scenario, "2 emails, the server accepts then stalls",
                     "the service keeps answering while sends hang",
                     all(h[0] == 200 for h in health) and api_ok and slowest < 1,
                     "20 /healthz in %.1f s, slowest %.3f s" % (time.monotonic() - started, slowest))
        sink.set_mode("accept")
        recovered = wait_until(lambda: (hurry(pg, stalled), all(s == "delivered" for s in
                                                               outbox_statuses(pg, stalled).values()))[1],
                               timeout=40, interval=0.5)
        report.check(scenario, "2 emails, the server accepts then stalls",
                     "stalled sends time out and are delivered once the server answers again", recovered,
                     "statuses %s" % sorted(set(outbox_statuses(pg, stalled).values())))
        writes.stop()
        check_nothing_lost(report, scenario, "2 writer threads throughout the SMTP faults", pg, writes, tag)
    finally:
        if svc:
            svc.stop()
        sink.destroy()
        pg.destroy()


# -- several instances -------------------------------------------------------------

def instances_share_jobs(report, quick):
    scenario = "3 instances, one killed"
    count = 120 if quick else 600
    pg = migrated_postgres()
    sink = SmtpSink().start()
    services = []
    try:
        key = create_api_key(pg.url)
        env = dict(EMAIL_FAST, SMTP_URL=sink.url, JOB_LEASE_SECONDS="5")
        services = [Service(pg.url, **env).start() for _ in range(3)]
        api = Api(services[0], key)
        customer = api.customer(email="instances@example.com")
        # The emails are written while the dispatchers are paused, then all
        # become due at once, so the three instances compete for them.
        wait_until(lambda: pg.psql("SELECT count(*) FROM job_state WHERE name = 'outbox-dispatch'") == "1",
                   timeout=15)
        pg.psql("UPDATE job_state SET paused = true WHERE name = 'outbox-dispatch'")
        time.sleep(1.5)  # a dispatch round already running ends
        ids = []
        for i in range(count):
            ids.append(api.booking(customer["id"], address="inst-%d" % i)["id"])
        expected = [message_id("booking:%d:created" % i) for i in ids]
        pg.psql("UPDATE job_state SET paused = false WHERE name = 'outbox-dispatch'")
        wait_until(lambda: sink.count() >= count // 5, timeout=30, interval=0.05)
        victim = services[1]
        victim.proc.send_signal(signal.SIGKILL)
        victim.proc.wait(10)
        at_kill = sink.count()
        wait_until(lambda: not email_census(sink, expected)[0], timeout=90, interval=0.5)
        lost, extra = email_census(sink, expected)
        what = "%d confirmation emails due at once, 3 instances dispatching, one gets kill -9 after %d sent" % (
            count, at_kill)
        report.check(scenario, what, "no email lost", not lost, "%d of %d missing" % (len(lost), count))
        report.check(scenario, what, "no email doubled, except what the killed one had in flight",
                     extra <= 8, "%d duplicate copies" % extra)
    finally:
        for s in services:
            s.stop()
        sink.destroy()
        pg.destroy()


# -- a full disk -------------------------------------------------------------------

def disk_full(report, quick):
    scenario = "STORAGE_DIR full"
    pg = migrated_postgres()
    mount = tempfile.mkdtemp(prefix="clean-chaos-disk-")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", mount],
                             capture_output=True).returncode == 0
    svc = None
    try:
        storage = os.path.join(mount, "storage")
        os.makedirs(os.path.join(storage, "backups"))
        if mounted:
            how = "a 256 KiB tmpfs, filled to the last byte"
            os.makedirs(os.path.join(storage, "exports"))
            fd = os.open(os.path.join(mount, "filler"), os.O_WRONLY | os.O_CREAT)
            try:
                while os.write(fd, b"\0" * 4096) > 0:
                    pass
            except OSError:
                pass  # ENOSPC: full
            finally:
                os.close(fd)
        else:
            how = "simulated (no mount allowed): exports/ is a file, so writes fail"
            with open(os.path.join(storage, "exports"), "w") as f:
                f.write("not a directory")
        key = create_api_key(pg.url)
        svc = Service(pg.url, STORAGE_DIR=storage, JOB_POLL_SECONDS="0.2", JOB_OUTBOX_DISPATCH_SCHEDULE="1s",
                      ACCESS_LOG="false").start()
        api = Api(svc, key)
        customer = api.customer()
        tag = "df%d" % (time.time() * 1000 % 10 ** 8)
        writes = background_writes(svc, key, tag)
        booking = api.booking(customer["id"])
        status, _, inv = api.post("/v1/invoices", {"booking_id": booking["id"], "amount_cents": 100, "currency": "EUR",
                                                   "due_at": "2030-01-15T00:00:00Z"})
        export_key = "invoice:%d:export" % inv["id"]
        failed = wait_until(lambda: outbox_statuses(pg, [export_key]).get(export_key) == "retry", timeout=20)
        healthy = svc.get("/healthz")[0] == 200 and api.get("/v1/invoices/%d" % inv["id"])[0] == 200
        what = "an invoice export with %s" % how
        report.check(scenario, what, "the export fails retryably (status retry, not dead)", failed,
                     "status %s" % outbox_statuses(pg, [export_key]).get(export_key))
        report.check(scenario, what, "the service stays up and keeps serving", healthy and svc.proc.poll() is None,
                     "healthz and reads 200")
        if mounted:
            os.remove(os.path.join(mount, "filler"))
        else:
            os.remove(os.path.join(storage, "exports"))
        hurry(pg, [export_key])
        done = wait_until(lambda: (hurry(pg, [export_key]), outbox_statuses(pg, [export_key]).get(export_key)
                                   == "delivered")[1], timeout=30, interval=0.5)
        report.check(scenario, what, "with space again the export completes", done,
                     "status %s" % outbox_statuses(pg, [export_key]).get(export_key))
        writes.stop()
        check_nothing_lost(report, scenario, "2 writer threads while the disk was full", pg, writes, tag)
    finally:
        if svc:
            svc.stop()
        if mounted:
            subprocess.run(["umount", mount], capture_output=True)
        subprocess.run(["rm", "-rf", mount])
        pg.destroy()
