"""Benchmarks of clean-service against baselines measured in the same run.

Called by scripts/bench (which installs the tools and builds first). Each
scenario runs the service and its baselines in alternating rounds, so the
noise of a shared machine hits all of them alike; the report gives every
round, the median and min-max of each, and the ratio of medians against
the target. Results are written between the markers in docs/BENCHMARKS.md.

    /usr/bin/python3 bench/run.py [--quick] [--only NAME[,NAME...]] [--no-write]
"""

import argparse
import datetime
import hashlib
import hmac
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "build", "clean-service")
RAW_BEAST = os.path.join(ROOT, "build", "bench", "raw_beast")
FIXED_RATE = os.path.join(ROOT, "build", "bench", "fixed_rate")
ESCRIPT = os.path.join(ROOT, "bench", "baselines", "mailbox.escript")
# HTTP clients of the database scenarios: enough that the pool's 8
# connections always have work waiting, as with pgbench's 8 clients, which
# never wait on anything but the database.
HTTP_CONNS = 64
PLOTS = os.path.join(ROOT, "docs", "bench")
REPORT = os.path.join(ROOT, "docs", "BENCHMARKS.md")
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"
TICKS = os.sysconf("SC_CLK_TCK")
PG_BIN = "/usr/lib/postgresql/15/bin"
WEBHOOK_SECRET = "whsec_bench_only_secret"


# --- processes ---------------------------------------------------------------

class Procs:
    """Every process a scenario starts, stopped and reaped at the end."""

    def __init__(self):
        self.procs = []

    def start(self, args, env=None, **kw):
        p = subprocess.Popen(args, env=env, stdout=kw.pop("stdout", subprocess.DEVNULL),
                             stderr=kw.pop("stderr", subprocess.DEVNULL), **kw)
        self.procs.append(p)
        return p

    def stop(self, p):
        """Stops and reaps one of them before the scenario ends."""
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        self.procs.remove(p)

    def stop_all(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in reversed(self.procs):
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.procs = []


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(port, path="/healthz", timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing answered on port {port}{path}")


def cpu_seconds(pid):
    """User + system CPU so far of a process, its threads and its child
    processes (nginx's worker is a child of its master)."""
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry) == pid or int(fields[1]) == pid:
            total += (int(fields[11]) + int(fields[12])) / TICKS
    return total


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def run(args, **kw):
    return subprocess.run(args, capture_output=True, text=True, check=True, **kw).stdout


# --- load generators ---------------------------------------------------------

def wrk(port, path, seconds, conns, server_pid, script=None, headers=()):
    """req/s, and the CPU share (of one core) of the server and of wrk."""
    args = ["wrk", "-t1", f"-c{conns}", f"-d{seconds}s", "--latency"]
    for h in headers:
        args += ["-H", h]
    if script:
        args += ["-s", script]
    args.append(f"http://127.0.0.1:{port}{path}")
    server_before = cpu_seconds(server_pid)
    start = time.monotonic()
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = p.communicate(timeout=seconds + 30)
    wall = time.monotonic() - start
    server_cpu = cpu_seconds(server_pid) - server_before
    # wrk's own CPU: resource usage of the child we just reaped
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not m:
        raise RuntimeError("wrk failed: " + out + err)
    rps = float(m.group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    total = re.search(r"(\d+) requests in", out)
    if non2xx and total and int(total.group(1)) > 0:
        # Only answers that succeeded count: a fast error is not throughput.
        print(f"  wrk: {non2xx.group(1)} of {total.group(1)} answers were not 2xx", flush=True)
        rps *= 1 - int(non2xx.group(1)) / int(total.group(1))
    return {"rps": rps, "server_cpu": server_cpu / wall, "server_cpu_per_req_us": 1e6 * server_cpu / max(1, rps * wall),
            "non2xx": int(non2xx.group(1)) if non2xx else 0, "errors": errors.group(0) if errors else ""}


def pgbench(url, seconds, clients, script=None, select_only=False):
    args = [PG_BIN + "/pgbench", "-n", "-T", str(seconds), "-c", str(clients), "-j", "2"]
    if select_only:
        args.append("-S")
    if script:
        args += ["-f", script]
    args.append(url)
    out = run(args, timeout=seconds + 60)
    m = re.search(r"tps = ([\d.]+) \(without initial connection time\)", out) or re.search(r"tps = ([\d.]+)", out)
    return {"rps": float(m.group(1))}


def failures(r):
    """Requests of a bench/fixed_rate run that did not get a 2xx answer."""
    return r["errors"] + r["unanswered"] + r["non_2xx"] + r["connect_errors"]


def ms(value):
    return "—" if value is None else f"{value:.2f}"


def fixed_rate(port, path, seconds, conns, rate, headers=()):
    """bench/fixed_rate's JSON: open loop at `rate` req/s (latency from each
    request's due time), or closed loop (its peak) when rate is 0."""
    args = [FIXED_RATE, "127.0.0.1", str(port), path, f"{rate:.1f}", str(conns), str(seconds), *headers]
    return json.loads(run(args, timeout=seconds + 30).strip().splitlines()[-1])


# --- statistics and report ---------------------------------------------------

def summary(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "rounds": values}


def fmt(x, digits=0):
    if isinstance(x, str):
        return x
    if digits == 0:
        return f"{x:,.0f}"
    return f"{x:,.{digits}f}"


class Report:
    def __init__(self, quick):
        self.quick = quick
        self.sections = []
        self.verdicts = []

    def table(self, title, intro, command, contenders, key="rps", unit="req/s", ratio_to=None, target=None,
              extra=None, also=()):
        """contenders: {name: [round dicts]}. The ratio is median(first) /
        median(ratio_to); `also` lists (contender, base, goal or None) ratios of
        another contender."""
        lines = [f"### {title}", "", intro, "", "```sh", command, "```", "",
                 "| | " + " | ".join(contenders) + " |", "|---|" + "---:|" * len(contenders)]
        n = max(len(v) for v in contenders.values())
        for i in range(n):
            cells = [fmt(v[i][key]) if i < len(v) else "" for v in contenders.values()]
            lines.append(f"| round {i + 1} | " + " | ".join(cells) + " |")
        sums = {name: summary([r[key] for r in v]) for name, v in contenders.items()}
        lines.append("| **median** (min–max) | " + " | ".join(
            f"**{fmt(s['median'])}** ({fmt(s['min'])}–{fmt(s['max'])})" for s in sums.values()) + " |")
        for label, field, digits in (extra or []):
            lines.append(f"| {label} | " + " | ".join(
                fmt(statistics.median([r[field] for r in v]), digits) if field in v[0] else "—"
                for v in contenders.values()) + " |")
        lines.append("")
        first = next(iter(sums))
        if ratio_to:
            for base, goal in ratio_to:
                ratio = sums[first]["median"] / sums[base]["median"]
                ok = ratio >= goal
                self.verdicts.append((f"{title}: {first} vs {base}", f"{ratio:.2f}×", f"≥ {goal}×", ok))
                lines.append(f"Ratio of medians, {first} / {base}: **{ratio:.2f}×** (target ≥ {goal}×: "
                             f"{'met' if ok else 'NOT met'}).  ")
        for name, base, goal in also:
            ratio = sums[name]["median"] / sums[base]["median"]
            if goal is None:
                lines.append(f"Ratio of medians, {name} / {base}: {ratio:.2f}× (no target).  ")
                continue
            self.verdicts.append((f"{title}: {name} vs {base}", f"{ratio:.2f}×", f"≥ {goal}×", ratio >= goal))
            lines.append(f"Ratio of medians, {name} / {base}: **{ratio:.2f}×** (target ≥ {goal}×: "
                         f"{'met' if ratio >= goal else 'NOT met'}).  ")
        if target:
            lines.append(target)
        lines.append("")
        self.sections.append("\n".join(lines))
        return sums

    def text(self, title, body):
        self.sections.append(f"### {title}\n\n{body}\n")

    def verdict(self, what, value, goal, ok):
        self.verdicts.append((what, value, goal, ok))

    def render(self, machine):
        out = [f"_Generated by `scripts/bench{' --quick' if self.quick else ''}` on {machine['date']} "
               f"(commit {machine['commit']}). Do not edit between the markers; rerun the script._", "",
               "#### Machine and versions", "", "| | |", "|---|---|"]
        out += [f"| {k} | {v} |" for k, v in machine.items() if k not in ("date", "commit")]
        out += ["", "#### Targets", "", "| scenario | measured | target | |", "|---|---:|---:|---|"]
        out += [f"| {w} | {v} | {g} | {'✅ met' if ok else '❌ not met'} |" for w, v, g, ok in self.verdicts]
        out += [""] + self.sections
        return "\n".join(out)


def machine_info():
    def version(args, pattern=r"(\d+\.\d+(?:\.\d+)?)"):
        try:
            out = subprocess.run(args, capture_output=True, text=True, timeout=20)
            m = re.search(pattern, out.stdout + out.stderr)
            return m.group(1) if m else "?"
        except OSError:
            return "not installed"
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    # Anchored at a digit: a package that is missing makes dpkg-query print
    # an error, which is not a version.
    dpkg = lambda pkg: version(["dpkg-query", "-W", "-f=${Version}", pkg], r"^(\d\S*)")
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": version(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], r"(\w+)"),
        "CPU": f"{os.cpu_count()} × {cpu}",
        "kernel": platform.release(),
        "build": "RelWithDebInfo (scripts/build)",
        "g++": version(["g++", "--version"]),
        "CAF": dpkg("libcaf-dev"),
        "Boost": dpkg("libboost1.81-dev"),
        "PostgreSQL": version([PG_BIN + "/postgres", "--version"]),
        "nginx": version(["nginx", "-v"]),
        "Erlang/OTP": version(["erl", "-noshell", "-eval",
                               'io:format("~s", [erlang:system_info(otp_release)]), halt().'], r"(\d+)"),
        "wrk": version(["wrk", "-v"]),
    }


# --- the system under test ---------------------------------------------------

class Bench:
    def __init__(self, args):
        self.quick = args.quick
        self.rounds = 1 if args.quick else args.rounds
        self.seconds = 3 if args.quick else args.seconds
        self.procs = Procs()
        self.report = Report(args.quick)
        self.tmp = tempfile.mkdtemp(prefix="clean-bench-")
        self.pg_dir = os.path.join(ROOT, "var", "bench-postgres")
        self.db = run([os.path.join(ROOT, "scripts", "pg-cluster"), "start", self.pg_dir]).strip().splitlines()[-1]
        run([BIN, "migrate"], env=self.env())
        self.series = {}

    def env(self, **extra):
        env = dict(os.environ)
        for k in ("METRICS_TOKEN", "APP_ENV", "PORT", "HOST"):
            env.pop(k, None)
        env.update({"DATABASE_URL": self.db, "LOG_LEVEL": "warn", "ACCESS_LOG": "false",
                    "STORAGE_DIR": os.path.join(self.tmp, "storage"),
                    "EMAIL_FILE_DIR": os.path.join(self.tmp, "mail"),
                    "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET})
        env.update({k: str(v) for k, v in extra.items()})
        return env

    def service(self, command=("serve", "--no-jobs"), **env):
        port = free_port()
        p = self.procs.start([BIN, *command], env=self.env(PORT=port, **env))
        wait_http(port)
        return port, p

    def psql(self, sql):
        return run([PG_BIN + "/psql", "-X", "-Atq", self.db, "-c", sql])

    def close(self):
        self.procs.stop_all()
        # Leave no server behind: the private cluster is started again (and
        # its data reused) by the next run.
        subprocess.run([os.path.join(ROOT, "scripts", "pg-cluster"), "stop", self.pg_dir], capture_output=True)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def rounds_of(self, contenders):
        """contenders: {name: callable() -> dict}, run alternately."""
        results = {name: [] for name in contenders}
        for i in range(self.rounds):
            for name, measure in contenders.items():
                results[name].append(measure())
            print(f"  round {i + 1}: " + ", ".join(f"{n}={fmt(r[-1]['rps'] if 'rps' in r[-1] else 0)}"
                                                  for n, r in results.items()), flush=True)
        return results

    # -- /healthz ------------------------------------------------------------

    def healthz(self):
        print("healthz: clean-service vs raw Beast vs nginx", flush=True)
        raw_port = free_port()
        raw = self.procs.start([RAW_BEAST, str(raw_port)])
        wait_http(raw_port, "/")
        nginx_port, nginx = self.nginx()
        svc_port, svc = self.service(HTTP_IO_THREADS=1)
        conns = 64
        w = lambda port, pid: lambda: wrk(port, "/healthz", self.seconds, conns, pid)
        res = self.rounds_of({"clean-service": w(svc_port, svc.pid), "raw Beast": w(raw_port, raw.pid),
                              "nginx 1 worker": w(nginx_port, nginx.pid)})
        self.report.table(
            "GET /healthz, keep-alive", "wrk with one thread and 64 connections against each server in turn, "
            "one HTTP I/O thread each (raw Beast: one thread; nginx: one worker).",
            f"wrk -t1 -c{conns} -d{self.seconds}s http://127.0.0.1:PORT/healthz", res,
            ratio_to=[("raw Beast", 0.9)],
            extra=[("server CPU (cores)", "server_cpu", 2), ("server CPU µs / request", "server_cpu_per_req_us", 2)])
        cpu = lambda name: statistics.median(r["server_cpu_per_req_us"] for r in res[name])
        ratio = cpu("clean-service") / cpu("raw Beast")
        self.report.verdict("GET /healthz: server CPU per request vs raw Beast", f"{ratio:.2f}×", "≤ 1.2×",
                            ratio <= 1.2)
        self.healthz_port = svc_port
        self.raw_beast_port = raw_port

    def nginx(self):
        port = free_port()
        conf = os.path.join(self.tmp, "nginx.conf")
        with open(os.path.join(ROOT, "bench", "baselines", "nginx.conf")) as f:
            text = f.read().replace("@PORT@", str(port)).replace("@TMP@", self.tmp)
        with open(conf, "w") as f:
            f.write(text)
        p = self.procs.start(["nginx", "-c", conf, "-p", self.tmp, "-g", "daemon off;"])
        wait_http(port, "/healthz")
        return port, p

    # -- GET /v1/bookings/{id} -----------------------------------------------

    def bookings(self):
        print("bookings: GET /v1/bookings/{id} vs pgbench -S", flush=True)
        key = run([BIN, "api-keys", "create", "--name", "bench"], env=self.env()).strip()
        port, svc = self.service(DATABASE_POOL_SIZE=8, DATABASE_MAX_OVERFLOW=0)
        booking = self.create_booking(port, key)
        run([PG_BIN + "/pgbench", "-i", "-q", "-s", "1", self.db], timeout=120)
        auth = f"Authorization: Bearer {key}"
        read = lambda conns: lambda: wrk(port, f"/v1/bookings/{booking}", self.seconds, conns, svc.pid,
                                         headers=[auth])
        res = self.rounds_of({"clean-service": read(HTTP_CONNS),
                              "pgbench -S -c 8": lambda: pgbench(self.db, self.seconds, 8, select_only=True),
                              "clean-service, 16 connections": read(16)})
        self.report.table(
            "GET /v1/bookings/{id} with an API key, 8 database connections",
            f"wrk ({HTTP_CONNS} connections, as for `/healthz`) reads one booking through the API key check "
            "(cached), the actor gateway, the pool (`DATABASE_POOL_SIZE=8`) and a detached connection actor; the "
            "baseline is pgbench's select-only transaction with 8 clients on the same database: the same 8 "
            "database connections either way. The last column is the service with only 16 clients, so at most 2 "
            "reads per connection are waiting (no target: see the analysis above).",
            f"wrk -t1 -c{HTTP_CONNS} -d{self.seconds}s -H 'Authorization: Bearer KEY' "
            "http://127.0.0.1:PORT/v1/bookings/ID   # and -c16\n"
            f"pgbench -n -S -c 8 -j 2 -T {self.seconds} DATABASE_URL", res,
            ratio_to=[("pgbench -S -c 8", 0.7)], also=[("clean-service, 16 connections", "pgbench -S -c 8", None)],
            extra=[("server CPU (cores)", "server_cpu", 2)])
        self.bookings_target = (port, booking, auth)
        return key

    def create_booking(self, port, key):
        def post(path, body):
            req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(),
                                         headers={"Authorization": "Bearer " + key,
                                                  "Content-Type": "application/json"}, method="POST")
            with urllib.request.urlopen(req, timeout=10) as r:
                return json.load(r)["id"]
        customer = post("/v1/customers", {"name": "Bench Customer", "email": "bench@example.com"})
        start = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=3)).replace(microsecond=0)
        return post("/v1/bookings", {"customer_id": customer, "scheduled_at": start.isoformat(),
                                     "duration_minutes": 120, "address": "1 Bench Street", "price_cents": 9900,
                                     "currency": "EUR"})

    # -- Stripe webhooks -----------------------------------------------------

    def signed_deliveries(self, path, ids):
        """A file of (Stripe-Signature, body) lines for wrk's Lua script,
        signed now as Stripe signs (t=<unix>,v1=HMAC-SHA256(t.body))."""
        stamp = str(int(time.time()))
        key = WEBHOOK_SECRET.encode()
        with open(path, "w") as f:
            for event_id in ids:
                body = json.dumps({"id": event_id, "object": "event", "type": "customer.created",
                                   "created": int(stamp), "data": {"object": {"id": "cus_" + event_id[4:]}}},
                                  separators=(",", ":"))
                mac = hmac.new(key, f"{stamp}.{body}".encode(), hashlib.sha256).hexdigest()
                f.write(f"t={stamp},v1={mac}\t{body}\n")

    def stored_ids(self, prefix, limit):
        """The ids of a round's deliveries that were stored, the most recent first."""
        return self.psql(f"SELECT id FROM stripe_events WHERE id LIKE 'evt\\_{prefix}\\_%' "
                         f"ORDER BY seq DESC LIMIT {limit}").split()

    def webhook_round(self, port, pid, conns, prefix, redeliver=None):
        """New ids named after `prefix`, or the stored ids in `redeliver` again."""
        deliveries = os.path.join(self.tmp, f"deliveries-{prefix}.tsv")
        if redeliver is None:
            # Enough distinct events that no id repeats within a round.
            self.signed_deliveries(deliveries, (f"evt_{prefix}_{i}" for i in range(40000 * self.seconds)))
        else:
            self.signed_deliveries(deliveries, redeliver)  # same ids, fresh stamps
        script = os.path.join(ROOT, "bench", "webhooks.lua")
        os.environ["BENCH_DELIVERIES"] = deliveries
        os.environ["BENCH_REDELIVERY"] = "1" if redeliver is not None else ""
        return wrk(port, "/v1/webhooks/stripe", self.seconds, conns, pid, script=script)

    def webhooks(self):
        print("webhooks: signed Stripe deliveries vs pgbench one-row inserts", flush=True)
        port, svc = self.service(DATABASE_POOL_SIZE=8, DATABASE_MAX_OVERFLOW=0)
        self.psql("CREATE TABLE IF NOT EXISTS bench_events (id bigint PRIMARY KEY); TRUNCATE bench_events; "
                  "INSERT INTO bench_events SELECT g FROM generate_series(1, 100000) g")
        new_sql = os.path.join(self.tmp, "insert_new.sql")
        with open(new_sql, "w") as f:
            f.write("\\set id random(1000000, 9000000000000000)\n"
                    "INSERT INTO bench_events (id) VALUES (:id) ON CONFLICT DO NOTHING;\n")
        dup_sql = os.path.join(self.tmp, "insert_dup.sql")
        with open(dup_sql, "w") as f:
            f.write("\\set id random(1, 100000)\nINSERT INTO bench_events (id) VALUES (:id) ON CONFLICT DO NOTHING;\n")
        tag = f"{int(time.time())}"
        counter = iter(range(1000))
        new_prefixes = []

        def new_round(conns):
            def measure():
                prefix = f"{tag}_{next(counter)}"
                if conns == HTTP_CONNS:  # the rounds the redeliveries replay
                    new_prefixes.append(prefix)
                return self.webhook_round(port, svc.pid, conns, prefix)
            return measure

        res = self.rounds_of({"clean-service": new_round(HTTP_CONNS),
                              "pgbench insert -c 8": lambda: pgbench(self.db, self.seconds, 8, script=new_sql),
                              "clean-service, 8 connections": new_round(8)})
        self.report.table(
            "Signed Stripe webhooks, new event ids",
            f"wrk ({HTTP_CONNS} connections, a Lua script cycling through deliveries signed as Stripe signs them, "
            "every event id new) posts to `/v1/webhooks/stripe`: signature check, then the event is recorded and "
            "applied in a transaction (fsync on), concurrent deliveries sharing a commit, over the pool's 8 "
            "database connections. Baseline: pgbench with a one-row `INSERT … ON CONFLICT DO NOTHING`, 8 "
            "clients, one commit each. The last column is the service with only as many deliveries in flight as "
            "pgbench has clients (no target: bound by latency, see the analysis above).",
            f"BENCH_DELIVERIES=FILE wrk -t1 -c{HTTP_CONNS} -d{self.seconds}s -s bench/webhooks.lua "
            "http://127.0.0.1:PORT/v1/webhooks/stripe   # and -c8\n"
            f"pgbench -n -c 8 -j 2 -T {self.seconds} -f insert_new.sql DATABASE_URL", res,
            ratio_to=[("pgbench insert -c 8", 1.0)], also=[("clean-service, 8 connections", "pgbench insert -c 8", None)],
            extra=[("server CPU (cores)", "server_cpu", 2)])
        # Redeliveries of what the latest round stored (its most recent
        # 40,000: a redelivery follows its event within minutes, and the
        # service remembers 50,000 final events per HTTP loop). The same ids
        # also go to a second instance that remembers none, so the database
        # path is measured beside it.
        stored = self.stored_ids(new_prefixes[-1], 40000)
        if not stored:
            raise RuntimeError("webhooks: the last new-id round stored nothing to redeliver")
        cold_port, cold = self.service(DATABASE_POOL_SIZE=8, DATABASE_MAX_OVERFLOW=0,
                                       STRIPE_WEBHOOK_SETTLED_CACHE=0)
        res = self.rounds_of({
            "clean-service": lambda: self.webhook_round(port, svc.pid, HTTP_CONNS, "again", redeliver=stored),
            "clean-service, cache off": lambda: self.webhook_round(cold_port, cold.pid, HTTP_CONNS, "again-cold",
                                                                   redeliver=stored),
            "pgbench duplicate -c 8": lambda: pgbench(self.db, self.seconds, 8, script=dup_sql)})
        self.procs.stop(cold)
        self.report.table(
            "Signed Stripe webhooks, redelivered event ids",
            f"The {len(stored):,} most recent deliveries of the last new-id round again (fresh signatures, same "
            "event ids, cycled through): each is answered `duplicate`. The service remembers the events it saw "
            "reach a final state (`STRIPE_WEBHOOK_SETTLED_CACHE`, 50,000 per HTTP loop) and answers their "
            "redeliveries without the database; the second instance is started with the cache off, so each "
            "redelivery there reaches the database: once its connection has seen a batch of mostly "
            "redeliveries, a batch of them is one read of what the ids were stored as. Baseline: the same "
            "pgbench insert with ids already present.",
            f"as above ({HTTP_CONNS} connections), replaying the last round's stored event ids; the second "
            "instance with "
            "STRIPE_WEBHOOK_SETTLED_CACHE=0\n"
            f"pgbench -n -c 8 -j 2 -T {self.seconds} -f insert_dup.sql DATABASE_URL", res,
            ratio_to=[("pgbench duplicate -c 8", 0.7)],
            also=[("clean-service, cache off", "pgbench duplicate -c 8", 0.7)],
            extra=[("server CPU (cores)", "server_cpu", 2)])
        # How the ingest rate grows with concurrent deliveries.
        conc = {}
        for c in (1, 8, 64):
            conc[c] = self.webhook_round(port, svc.pid, c, f"{tag}_c{c}")["rps"]
        self.series["webhook_concurrency"] = conc
        self.report.text("Webhook ingest by concurrent deliveries",
                         "| connections | 1 | 8 | 64 |\n|---|---:|---:|---:|\n| deliveries/s | " +
                         " | ".join(fmt(conc[c]) for c in (1, 8, 64)) + " |\n\n![](bench/webhook-concurrency.png)")

    # -- mailbox -------------------------------------------------------------

    def mailbox(self):
        print("mailbox: supervised actor vs bare CAF vs Erlang", flush=True)
        messages = 2_000_000 if self.quick else 10_000_000
        calls = 300_000 if self.quick else 1_000_000

        def caf(target, senders=1, mode="fanin", count=messages, address="none", element="pooled", **env):
            out = run([BIN, "bench", "mailbox", "--target", target, "--mode", mode, "--senders", str(senders),
                       "--messages", str(count), "--address", address, "--element", element],
                      env=self.env(**env), timeout=600)
            rate = float(re.search(r"(?:msgs|calls)_per_sec=([\d.]+)", out).group(1))
            hw = re.search(r"mailbox_high_water=(\S+)", out).group(1)
            return {"rps": rate, "high_water": hw}

        def erlang(senders=1, mode="fanin", count=messages):
            args = ["escript", ESCRIPT, mode] + ([str(senders)] if mode == "fanin" else []) + [str(count)]
            out = run(args, timeout=600)
            return {"rps": float(re.search(r"_per_sec=([\d.]+)", out).group(1)), "high_water": "—"}

        for senders in (1, 2):
            runs = {"supervised": lambda: caf("supervised", senders),
                    "bare CAF": lambda: caf("bare", senders),
                    "Erlang/OTP": lambda: erlang(senders)}
            if senders == 2:
                runs["supervised, --address self"] = lambda: caf("supervised", senders, address="self")
                runs["supervised, --element caf"] = lambda: caf("supervised", senders, element="caf")
            res = self.rounds_of(runs)
            ratios = [("bare CAF", 0.8)] + ([("Erlang/OTP", 1.0)] if senders == 2 else [])
            self.report.table(
                f"Mailbox fan-in, {senders} sender{'s' if senders > 1 else ''} → one actor, {messages:,} messages",
                "The supervised target is what the service runs: started by the supervisor, heartbeating, its "
                "mailbox counted, its processing time observed in a histogram. The bare target is a plain CAF "
                "actor on the same scheduler; Erlang's is `bench/baselines/mailbox.escript`. Each sender is a job "
                "on the same scheduler that sends one turn's worth of messages (`scheduler.max-throughput`) each "
                "time it runs, as an Erlang process yields when its reductions run out. Messages carry no "
                "sender address, as Erlang's `Pid ! Msg` does not, and their mailbox elements come from a block "
                "pool (`supervision/pooled_message.hpp`). With `--address self` each also holds a counted "
                "reference to its sender (what `send` does); with `--element caf` it is a plain CAF message, "
                "allocated with `new` on the sender's core and freed on the sink's (neither has a target).",
                f"clean-service bench mailbox --target supervised|bare --senders {senders} --messages {messages}"
                f"{' [--address self] [--element caf]' if senders == 2 else ''}\n"
                f"escript bench/baselines/mailbox.escript fanin {senders} {messages}", res, unit="msgs/s",
                ratio_to=ratios)
            hw = [r["high_water"] for r in res["supervised"]]
            self.report.text(f"Mailbox high-water mark, {senders} sender(s)",
                             "Deepest mailbox the supervised sink saw (sampled every 256 messages): " +
                             ", ".join(hw) + ".")
        res = self.rounds_of({"supervised": lambda: caf("supervised", mode="call", count=calls),
                              "Erlang gen_server:call": lambda: erlang(mode="call", count=calls),
                              "supervised, ACTOR_THREADS=1": lambda: caf("supervised", mode="call", count=calls,
                                                                         ACTOR_THREADS=1),
                              "bare CAF": lambda: caf("bare", mode="call", count=calls)})
        self.report.table(
            f"Request/response round trips, {calls:,} calls",
            "One caller, one request in flight: CAF `request(...).then` to the supervised actor vs "
            "`gen_server:call`, with the service's default `ACTOR_THREADS=2` (the scheduler's hand-off slot runs "
            "each answer next on the worker that sent it) and with one scheduler thread.",
            f"clean-service bench mailbox --mode call --messages {calls}\n"
            f"escript bench/baselines/mailbox.escript call {calls}", res, unit="calls/s",
            ratio_to=[("Erlang gen_server:call", 1.5)])

    # -- latency at 80 % of peak ---------------------------------------------

    def latency(self):
        print("latency: fixed-rate load at 50 % and 80 % of the peak", flush=True)
        # The raw Beast server is the baseline: what open-loop load at the same
        # shares of its own peak does to the smallest server on this machine.
        if not hasattr(self, "healthz_port"):
            raise SystemExit("the latency scenario needs the healthz scenario (--only healthz,latency)")
        targets = [("GET /healthz", self.healthz_port, "/healthz", ()),
                   ("raw Beast (baseline)", self.raw_beast_port, "/healthz", ())]
        if hasattr(self, "bookings_target"):
            port, booking, auth = self.bookings_target
            targets.append(("GET /v1/bookings/{id}", port, f"/v1/bookings/{booking}", (auth,)))
        rows = []
        for name, port, path, headers in targets:
            at = {0.5: [], 0.8: []}
            for i in range(self.rounds):
                peak_run = fixed_rate(port, path, self.seconds, 32, 0, headers)
                peak = peak_run["rate"]
                for share, runs in at.items():
                    if peak <= 0 or failures(peak_run):
                        # A peak made of errors would make any share of it easy.
                        r = dict(peak_run, asked_rate=0.0, p50_ms=None, p99_ms=None, p999_ms=None,
                                 client_lag_p99_ms=None, unanswered=max(1, peak_run["unanswered"]))
                    else:
                        r = fixed_rate(port, path, self.seconds, 32, share * peak, headers)
                    r["peak"] = peak
                    runs.append(r)
                    print(f"  {name} round {i + 1}: peak {fmt(peak)}/s, at {share:.0%}: p50 {ms(r['p50_ms'])} ms, "
                          f"p99 {ms(r['p99_ms'])} ms, {failures(r)} failed", flush=True)
            for share, runs in at.items():
                failed = sum(failures(r) for r in runs)
                p99s = [r["p99_ms"] for r in runs if r["p99_ms"] is not None]
                p99 = summary(p99s) if p99s else None
                if share == 0.8 and not name.startswith("raw Beast"):
                    self.report.verdict(f"{name}: p99 at 80 % of peak", f"{ms(p99 and p99['median'])} ms", "≤ 5 ms",
                                        p99 is not None and p99["median"] <= 5 and failed == 0)
                for i, r in enumerate(runs):
                    rows.append(f"| {name} | {share:.0%} | {i + 1} | {fmt(r['peak'])} | {fmt(r['asked_rate'])} | "
                                f"{fmt(r['rate'])} | {ms(r['p50_ms'])} | {ms(r['p99_ms'])} | {ms(r['p999_ms'])} | "
                                f"{ms(r['client_lag_p99_ms'])} | {failures(r)} |")
                if p99:
                    rows.append(f"| {name} | {share:.0%} | **median** (min–max) | | | | | **{p99['median']:.2f}** "
                                f"({p99['min']:.2f}–{p99['max']:.2f}) | | | |")
        self.report.text(
            "Latency at 50 % and 80 % of peak",
            "`bench/fixed_rate` (one asio thread, 32 keep-alive connections) first finds the peak in closed loop, "
            "then sends 50 % and 80 % of it at a fixed rate, open loop: request i is due at start + i / rate and "
            "its latency counts from that due time, so a stall is charged to every request queued behind it. "
            "\"Got\" counts 2xx answers that arrived within the run (not the backlog cleared after it); "
            "\"client lag\" is how late the client's own thread got to a request after its due time (a late "
            "timer or no CPU), part of the latency it reports; waiting for a free connection is not lag but "
            "the server's backlog. The first second of each run is a warm-up. The client shares the two cores with the service "
            "(and PostgreSQL), as wrk does. The raw Beast server of the `/healthz` scenario runs the same schedule at "
            "the same shares of its own peak, as the baseline; only the service's 80 % rows have a target.\n\n"
            f"```sh\nbuild/bench/fixed_rate 127.0.0.1 PORT PATH 0 32 {self.seconds} [HEADER]      # peak\n"
            f"build/bench/fixed_rate 127.0.0.1 PORT PATH RATE 32 {self.seconds} [HEADER]   # RATE = share × peak\n"
            "```\n\n"
            "| route | load | round | peak req/s | asked req/s | got req/s | p50 ms | p99 ms | p99.9 ms | "
            "client lag p99 ms | failed |\n|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n" + "\n".join(rows))

    # -- memory --------------------------------------------------------------

    def memory(self):
        print("memory: idle RSS and RSS per idle keep-alive connection", flush=True)
        port, svc = self.service(command=("serve",))
        time.sleep(3)
        idle = rss_bytes(svc.pid)
        self.report.verdict("idle RSS (serve, HTTP and jobs)", f"{idle / 2**20:.1f} MB", "≤ 50 MB", idle <= 50 * 2**20)
        api_port, api = self.service(HTTP_MAX_CONNECTIONS=20000, HTTP_IDLE_TIMEOUT_SECONDS=300)
        time.sleep(1)
        before = rss_bytes(api.pid)
        count = 2000 if self.quick else 10000
        socks = []
        request = b"GET /healthz HTTP/1.1\r\nHost: bench\r\n\r\n"
        try:
            for _ in range(count):
                s = socket.create_connection(("127.0.0.1", api_port), timeout=10)
                s.sendall(request)
                socks.append(s)
            for s in socks:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += s.recv(4096)
            time.sleep(1)
            after = rss_bytes(api.pid)
        finally:
            for s in socks:
                s.close()
        per_conn = (after - before) / count
        self.report.verdict(f"RSS per idle keep-alive connection ({count:,})", f"{per_conn / 1024:.1f} KB",
                            "≤ 20 KB", per_conn <= 20 * 1024)
        self.report.text(
            "Memory",
            f"RSS from `/proc/PID/status` (VmRSS). Idle: `serve` (HTTP and jobs) 3 s after start: "
            f"**{idle / 2**20:.1f} MB**. Connections: `serve --no-jobs` before and after {count:,} clients each "
            f"sent one keep-alive `GET /healthz` and stayed connected: {before / 2**20:.1f} MB → "
            f"{after / 2**20:.1f} MB, **{per_conn / 1024:.1f} KB per connection**.")

    # -- scaling -------------------------------------------------------------

    def scaling(self):
        print("scaling: I/O threads and pool sizes", flush=True)
        io = {}
        for threads in (1, 2):
            port, svc = self.service(HTTP_IO_THREADS=threads)
            io[threads] = statistics.median(wrk(port, "/healthz", self.seconds, 64, svc.pid)["rps"]
                                            for _ in range(self.rounds))
        key = run([BIN, "api-keys", "create", "--name", "bench-scaling"], env=self.env()).strip()
        pool = {}
        booking = None
        for size in (2, 4, 8, 16):
            port, svc = self.service(DATABASE_POOL_SIZE=size, DATABASE_MAX_OVERFLOW=0)
            booking = booking or self.create_booking(port, key)
            pool[size] = statistics.median(
                wrk(port, f"/v1/bookings/{booking}", self.seconds, 32, svc.pid,
                    headers=[f"Authorization: Bearer {key}"])["rps"] for _ in range(self.rounds))
        self.series["pool"] = pool
        self.report.text(
            "Scaling",
            "| HTTP_IO_THREADS | 1 | 2 |\n|---|---:|---:|\n| GET /healthz req/s | " +
            " | ".join(fmt(io[t]) for t in (1, 2)) + " |\n\n"
            "Two I/O threads share two cores with wrk; one thread is the default for that reason.\n\n"
            "| DATABASE_POOL_SIZE | 2 | 4 | 8 | 16 |\n|---|---:|---:|---:|---:|\n| GET /v1/bookings/{id} req/s | " +
            " | ".join(fmt(pool[s]) for s in (2, 4, 8, 16)) + " |\n\n![](bench/pool-size.png)")

    def plots(self):
        if not shutil.which("gnuplot"):
            return
        os.makedirs(PLOTS, exist_ok=True)
        for name, series, xlabel, ylabel in (
                ("webhook-concurrency", self.series.get("webhook_concurrency"), "concurrent deliveries (wrk -c)",
                 "deliveries/s"),
                ("pool-size", self.series.get("pool"), "DATABASE_POOL_SIZE", "GET /v1/bookings/{id} req/s")):
            if not series:
                continue
            data = os.path.join(self.tmp, name + ".dat")
            with open(data, "w") as f:
                f.writelines(f"{x} {y}\n" for x, y in series.items())
            script = (f"set terminal png size 640,400\nset output '{os.path.join(PLOTS, name + '.png')}'\n"
                      f"set xlabel '{xlabel}'\nset ylabel '{ylabel}'\nset logscale x 2\nset yrange [0:*]\n"
                      "set grid\nunset key\n"
                      f"plot '{data}' using 1:2 with linespoints lw 2 pt 7\n")
            subprocess.run(["gnuplot"], input=script, text=True, check=True)


SCENARIOS = ["healthz", "bookings", "webhooks", "mailbox", "latency", "memory", "scaling"]
QUICK = ["healthz", "bookings", "webhooks", "mailbox", "latency", "memory"]


def write_report(text):
    with open(REPORT) as f:
        doc = f.read()
    if BEGIN not in doc:
        doc = doc.rstrip() + f"\n\n## Latest results\n\n{BEGIN}\n{END}\n"
    head, rest = doc.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    with open(REPORT, "w") as f:
        f.write(f"{head}{BEGIN}\n{text}\n{END}{tail}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    # Five short rounds rather than three long ones: one stall of the shared
    # host then moves a median less, and the full run stays near 15 minutes.
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--only", default="")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    chosen = args.only.split(",") if args.only else (QUICK if args.quick else SCENARIOS)
    import resource
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    want = 65536 if hard == resource.RLIM_INFINITY else min(65536, hard)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(want, hard) if hard != resource.RLIM_INFINITY else hard))
    except (ValueError, OSError):
        pass
    bench = Bench(args)
    started = time.monotonic()
    try:
        for name in SCENARIOS:
            if name in chosen:
                getattr(bench, name)()
        if not args.no_write:  # --no-write leaves docs/ alone, plots included
            bench.plots()
    finally:
        bench.close()
    text = bench.report.render(machine_info())
    text += f"\n_Run took {time.monotonic() - started:.0f} s._\n"
    if args.no_write:
        print(text)
    else:
        write_report(text)
        print(f"results written to {os.path.relpath(REPORT, ROOT)}")
    for what, value, goal, ok in bench.report.verdicts:
        print(f"{'met    ' if ok else 'NOT MET'}  {what}: {value} (target {goal})")


if __name__ == "__main__":
    main()
