"""The deployment files agree with the binary they deploy.

deploy/compose.yaml and deploy/kubernetes/*.yaml are read as data: their
probes must hit routes the service really serves (asked of a running process
started with the container's own arguments), on the port the pod's settings
make it listen on; the grace periods must outlast the shutdown the settings
ask for; the arguments must be commands the CLI accepts; and every variable
they set must be one the service documents in --help. The Grafana dashboard
may only query series a real scrape contains, and scripts/smoke is run
against real processes: all green with credentials, SKIP without, FAIL
against a dead or silent port."""

import glob
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.parse

import yaml

from harness import ADMIN_PASSWORD, ADMIN_USER, SOURCE, Service, migrated_postgres, run_cli, wait_until

DEPLOY = os.path.join(SOURCE, "deploy")
KUBERNETES = os.path.join(DEPLOY, "kubernetes")
COMPOSE = os.path.join(DEPLOY, "compose.yaml")
COMPOSE_ENV = os.path.join(DEPLOY, "compose.env.example")
DASHBOARD = os.path.join(DEPLOY, "grafana", "clean-service.json")
SMOKE = os.path.join(SOURCE, "scripts", "smoke")
TOKEN = "deploy-test-metrics-token"
# The development instance's admin password: what curl's config quoting in
# scripts/smoke must pass through unchanged.
TRICKY_PASSWORD = 'pa"ss \\word\\" with spaces'

# The serve/jobs-runner commands the deployments run, and the probe paths
# each has to answer.
LONG_RUNNING = {("serve",), ("serve", "--no-jobs"), ("jobs-runner",)}

pg = None
services = {}


def setUpModule():
    global pg
    pg = migrated_postgres()


def tearDownModule():
    for svc in services.values():
        svc.stop()
    services.clear()
    pg.destroy()


def service(*command, production=True):
    """One running process per command line (and mode), shared by the
    tests of this module and stopped in tearDownModule."""
    key = (command, production)
    if key not in services:
        env = {"SHUTDOWN_DRAIN_SECONDS": "0", "ACCESS_LOG": "false"}
        if production:
            env.update(APP_ENV="production", METRICS_TOKEN=TOKEN)
        else:
            env.update(ADMIN_BASIC_PASSWORD=TRICKY_PASSWORD)
        svc = Service(pg.url, **env)
        svc.command = list(command)
        services[key] = svc.start()
    return services[key]


# -- what the binary says about itself ----------------------------------------

_help = None


def help_variables():
    """{name: default} of every variable --help lists."""
    global _help
    if _help is None:
        r = run_cli(["--help"])
        assert r.returncode == 0, r.stderr
        _, _, section = r.stdout.partition("Configuration comes from the environment:")
        assert section, "--help has no configuration section"
        _help = {}
        for line in section.splitlines():
            m = re.match(r"^  ([A-Z][A-Z0-9_<>*]*)\s+.*\[default: (.*)\]\s*$", line)
            if m:
                _help[m.group(1)] = m.group(2)
        assert len(_help) > 50, _help
    return _help


def job_env_names():
    r = run_cli(["jobs", "list"])
    assert r.returncode == 0, r.stderr
    names = [line.split()[0] for line in r.stdout.splitlines()[1:] if line.strip()]
    assert "backup" in names, names
    return {n.upper().replace("-", "_") for n in names}


def documented(name):
    """Whether --help documents `name`, also through its patterns
    (JOB_<NAME>_SCHEDULE with a real job, SMS_BREAKER_* and the like)."""
    for pattern in help_variables():
        if pattern == name:
            return True
        if "<NAME>" in pattern:
            prefix, _, suffix = pattern.partition("<NAME>")
            if name.startswith(prefix) and name.endswith(suffix):
                if name[len(prefix):len(name) - len(suffix)] in job_env_names():
                    return True
        elif pattern.endswith("*") and name.startswith(pattern[:-1]):
            # SMS_BREAKER_* is "as EMAIL_BREAKER_*": the same suffixes.
            suffix = name[len(pattern) - 1:]
            if ("EMAIL_BREAKER_" + suffix) in help_variables():
                return True
    return False


def default_seconds(name, production):
    """A duration's default from --help, e.g. `0 (5 in production)`."""
    text = help_variables()[name]
    m = re.match(r"^([\d.]+)(?: \(([\d.]+) in production\))?$", text)
    assert m, (name, text)
    return float(m.group(2) if production and m.group(2) else m.group(1))


def actor_stop_seconds():
    """After the HTTP drain the service gives its actors this long before it
    exits anyway (arm_exit_watchdog in supervision/application.cpp)."""
    with open(os.path.join(SOURCE, "supervision", "application.cpp")) as f:
        m = re.search(r"arm_exit_watchdog\(std::chrono::seconds\((\d+)\)\)", f.read())
    assert m, "arm_exit_watchdog(...) not found: update actor_stop_seconds() in test_deploy.py"
    return int(m.group(1))


def image_env():
    """The ENV of the Dockerfile's runtime stage: what a container starts with."""
    env = {}
    with open(os.path.join(SOURCE, "Dockerfile")) as f:
        for line in f:
            if line.startswith("ENV "):
                for item in line[4:].split():
                    k, _, v = item.partition("=")
                    env[k] = v
    return env


def image_uid():
    with open(os.path.join(SOURCE, "Dockerfile")) as f:
        return int(re.search(r"--uid (\d+)", f.read()).group(1))


def shutdown_budget(env):
    """Seconds from SIGTERM to exit at most, with these settings."""
    production = env.get("APP_ENV", "development") == "production"
    drain = float(env["SHUTDOWN_DRAIN_SECONDS"]) if env.get("SHUTDOWN_DRAIN_SECONDS") else \
        default_seconds("SHUTDOWN_DRAIN_SECONDS", production)
    timeout = float(env["SHUTDOWN_TIMEOUT_SECONDS"]) if env.get("SHUTDOWN_TIMEOUT_SECONDS") else \
        default_seconds("SHUTDOWN_TIMEOUT_SECONDS", False)
    return drain + timeout + actor_stop_seconds()


def listen_port(env):
    return int(env.get("PORT") or help_variables()["PORT"])


def get_status(svc, path, headers=None):
    if path.startswith("/metrics"):
        headers = dict(headers or {}, Authorization="Bearer " + TOKEN)
    return svc.get(path, headers=headers)[0]


def wait_for_200(svc, path):
    """Probes run repeatedly; a fresh process may need a moment to be ready."""
    wait_until(lambda: get_status(svc, path) == 200, timeout=20, interval=0.2)
    return get_status(svc, path)


# -- the Kubernetes manifests as data ------------------------------------------

def kubernetes_documents():
    docs = []
    for path in sorted(glob.glob(os.path.join(KUBERNETES, "*.yaml"))):
        with open(path) as f:
            for doc in yaml.safe_load_all(f):
                if doc:
                    docs.append((os.path.basename(path), doc))
    return docs


class Pod:
    """One container of a Deployment or Job with the environment it gets."""

    def __init__(self, file, workload, container, env, env_names):
        self.file = file
        self.workload = workload
        self.spec = workload["spec"]["template"]["spec"]
        self.container = container
        self.env = env
        self.env_names = env_names

    @property
    def name(self):
        return "%s/%s" % (self.workload["metadata"]["name"], self.container["name"])

    @property
    def args(self):
        return list(self.container.get("args", []))


def kubernetes_pods(testcase):
    docs = kubernetes_documents()
    configmaps = {d["metadata"]["name"]: d.get("data", {}) for _, d in docs if d["kind"] == "ConfigMap"}
    secrets = {d["metadata"]["name"]: dict(d.get("stringData", {}), **d.get("data", {}))
               for _, d in docs if d["kind"] == "Secret"}
    pods = []
    for file, doc in docs:
        if doc["kind"] not in ("Deployment", "Job"):
            continue
        for c in doc["spec"]["template"]["spec"]["containers"]:
            env = image_env()
            names = set()
            for source in c.get("envFrom", []):
                if "configMapRef" in source:
                    ref = source["configMapRef"]["name"]
                    testcase.assertIn(ref, configmaps, "%s: unknown ConfigMap %s" % (file, ref))
                    env.update(configmaps[ref])
                    names |= set(configmaps[ref])
                if "secretRef" in source:
                    ref = source["secretRef"]["name"]
                    testcase.assertIn(ref, secrets, "%s: unknown Secret %s" % (file, ref))
                    env.update(secrets[ref])
                    names |= set(secrets[ref])
            for item in c.get("env", []):
                names.add(item["name"])
                if "value" in item:
                    env[item["name"]] = str(item["value"])
                else:
                    ref = item["valueFrom"].get("configMapKeyRef") or item["valueFrom"].get("secretKeyRef")
                    store = configmaps if "configMapKeyRef" in item["valueFrom"] else secrets
                    testcase.assertIn(ref["key"], store.get(ref["name"], {}), (file, item))
                    env[item["name"]] = store[ref["name"]][ref["key"]]
            pods.append(Pod(file, doc, c, env, names))
    return pods, configmaps, secrets


# -- compose as data -------------------------------------------------------------

def compose_env_example():
    values = {}
    with open(COMPOSE_ENV) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                k, _, v = line.partition("=")
                values[k.strip()] = v.strip()
    return values


INTERPOLATION = re.compile(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}")


def interpolate(value, values):
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?error}, with `values`."""
    def one(m):
        name, op, arg = m.group(1), m.group(2) or "", m.group(3) or ""
        v = values.get(name)
        if op.endswith("-") and not v:
            return arg
        if op.endswith("?") and not v:
            raise AssertionError("compose would stop: %s (%s)" % (name, arg))
        return v or ""
    return INTERPOLATION.sub(one, str(value))


def load_compose():
    with open(COMPOSE) as f:
        return yaml.safe_load(f)


def clean_services(compose):
    """The compose services that run the clean-service image."""
    images = {s.get("image") for s in compose["services"].values() if "build" in s}
    return {name: s for name, s in compose["services"].items() if s.get("image") in images}


def compose_env(service_def, values):
    env = image_env()
    environment = service_def.get("environment", {})
    if isinstance(environment, list):
        environment = dict(item.partition("=")[::2] for item in environment)
    for k, v in environment.items():
        env[k] = interpolate(v, values) if v is not None else values.get(k, "")
    return env


def duration_seconds(text):
    parts = re.findall(r"(\d+(?:\.\d+)?)(h|ms|m|s|us)", str(text))
    assert parts and "".join(a + b for a, b in parts) == str(text), text
    scale = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6}
    return sum(float(a) * scale[b] for a, b in parts)


def healthcheck_url(service_def):
    test = service_def["healthcheck"]["test"]
    text = " ".join(test) if isinstance(test, list) else test
    m = re.search(r"https?://[^\s\"']+", text)
    return urllib.parse.urlsplit(m.group(0)) if m else None


# -- PromQL ------------------------------------------------------------------------

PROMQL_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or",
                   "unless", "offset", "inf", "nan"}


def metric_occurrences(expr):
    """Every metric name an expression selects, in order (with repeats)."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    e = re.sub(r"\{[^}]*\}", " ", e)
    e = re.sub(r"\[[^\]]*\]", " ", e)
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    e = re.sub(r"\$\{?\w+\}?", " ", e)
    out = []
    for m in re.finditer(r"(?<![\w.])([a-zA-Z_:][\w:]*)\b(?!\s*\()", e):
        if m.group(1).lower() not in PROMQL_KEYWORDS:
            out.append(m.group(1))
    return out


def scrape_names(svc):
    """The series names of one scrape, taken once the process has answered
    a request (as a deployed one always has: its probes), so that the
    request histogram has its series."""
    svc.get("/healthz")

    def scrape():
        status, _, body = svc.get("/metrics", headers={"Authorization": "Bearer " + TOKEN})
        assert status == 200, status
        names = set()
        for line in body.decode().splitlines():
            m = re.match(r"^([a-zA-Z_:][\w:]*)[{ ]", line)
            if m:
                names.add(m.group(1))
        return names

    wait_until(lambda: "http_request_latency_seconds_bucket" in scrape(), timeout=5)
    return scrape()


def dashboard_panels(dashboard):
    for p in dashboard["panels"]:
        yield p
        for inner in p.get("panels", []):
            yield inner


def dashboard_exprs(dashboard):
    return [(p["title"], t["expr"]) for p in dashboard_panels(dashboard) for t in p.get("targets", [])]


# == (a) the manifests ==============================================================

class KubernetesManifests(unittest.TestCase):
    def setUp(self):
        self.pods, self.configmaps, self.secrets = kubernetes_pods(self)
        self.by_name = {p.workload["metadata"]["name"]: p for p in self.pods}

    def test_the_workloads_are_the_expected_ones(self):
        self.assertEqual(set(self.by_name), {"clean-service-api", "clean-service-jobs-runner", "clean-service-migrate"})
        api = self.by_name["clean-service-api"]
        self.assertEqual(api.workload["kind"], "Deployment")
        self.assertEqual(api.workload["spec"]["replicas"], 2)
        self.assertEqual(api.args, ["serve", "--no-jobs"])
        runner = self.by_name["clean-service-jobs-runner"]
        self.assertEqual(runner.workload["spec"]["replicas"], 1)
        self.assertEqual(runner.workload["spec"]["strategy"]["type"], "Recreate")
        self.assertEqual(runner.args, ["jobs-runner"])
        migrate = self.by_name["clean-service-migrate"]
        self.assertEqual(migrate.workload["kind"], "Job")
        self.assertEqual(migrate.args, ["migrate"])
        self.assertIn("backoffLimit", migrate.workload["spec"])
        self.assertEqual(migrate.spec["restartPolicy"], "Never")
        # One image for the three.
        self.assertEqual(len({p.container["image"] for p in self.pods}), 1)

    def test_selectors_match_their_pods(self):
        docs = kubernetes_documents()
        templates = [d["spec"]["template"]["metadata"]["labels"] for _, d in docs if d["kind"] == "Deployment"]
        for file, doc in docs:
            if doc["kind"] == "Deployment":
                labels = doc["spec"]["template"]["metadata"]["labels"]
                for k, v in doc["spec"]["selector"]["matchLabels"].items():
                    self.assertEqual(labels.get(k), v, file)
            if doc["kind"] in ("Service", "PodDisruptionBudget"):
                selector = doc["spec"]["selector"]
                selector = selector.get("matchLabels", selector)
                matched = [t for t in templates if all(t.get(k) == v for k, v in selector.items())]
                self.assertEqual(len(matched), 1, (file, selector))
            if doc["kind"] == "Service":
                api = self.by_name["clean-service-api"].container
                names = {p["name"] for p in api["ports"]}
                for port in doc["spec"]["ports"]:
                    self.assertIn(port["targetPort"], names | {p["containerPort"] for p in api["ports"]})

    def test_the_storage_volume_is_a_claim_that_exists(self):
        runner = self.by_name["clean-service-jobs-runner"]
        claims = {d["metadata"]["name"] for _, d in kubernetes_documents() if d["kind"] == "PersistentVolumeClaim"}
        volumes = {v["name"]: v for v in runner.spec["volumes"]}
        storage = runner.env["STORAGE_DIR"]
        mounts = [m for m in runner.container["volumeMounts"]
                  if storage == m["mountPath"] or storage.startswith(m["mountPath"].rstrip("/") + "/")]
        self.assertEqual(len(mounts), 1, "STORAGE_DIR %s is on no volume" % storage)
        volume = volumes[mounts[0]["name"]]
        self.assertIn("persistentVolumeClaim", volume)
        self.assertIn(volume["persistentVolumeClaim"]["claimName"], claims)

    def test_pods_run_as_the_image_user_on_a_read_only_root(self):
        for pod in self.pods:
            sc = dict(pod.spec.get("securityContext", {}), **pod.container.get("securityContext", {}))
            self.assertTrue(sc.get("runAsNonRoot"), pod.name)
            self.assertEqual(sc.get("runAsUser"), image_uid(), pod.name)
            self.assertTrue(sc.get("readOnlyRootFilesystem"), pod.name)
            self.assertFalse(sc.get("allowPrivilegeEscalation", True), pod.name)
            self.assertIn("resources", pod.container, pod.name)
            for kind in ("requests", "limits"):
                self.assertIn("memory", pod.container["resources"].get(kind, {}), (pod.name, kind))

    def test_probes_use_the_port_the_settings_listen_on(self):
        for pod in self.pods:
            if tuple(pod.args) not in LONG_RUNNING:
                continue
            port = listen_port(pod.env)
            ports = {p.get("name"): p["containerPort"] for p in pod.container["ports"]}
            self.assertEqual(ports.get("http"), port, pod.name)
            # The kubelet probes the pod's address, not its loopback.
            self.assertIn(pod.env.get("HOST"), ("0.0.0.0", "::"), pod.name)
            for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
                probe = pod.container.get(kind)
                self.assertIsNotNone(probe, (pod.name, kind))
                target = probe["httpGet"]["port"]
                self.assertEqual(ports[target] if isinstance(target, str) else target, port, (pod.name, kind))
            self.assertEqual(pod.container["readinessProbe"]["httpGet"]["path"], "/readyz", pod.name)
            self.assertNotEqual(pod.container["livenessProbe"]["httpGet"]["path"], "/readyz",
                                "%s: liveness must not depend on the database" % pod.name)

    def test_probe_paths_are_routes_of_the_command_the_pod_runs(self):
        for pod in self.pods:
            if tuple(pod.args) not in LONG_RUNNING:
                continue
            svc = service(*pod.args)
            for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
                path = pod.container[kind]["httpGet"]["path"]
                with self.subTest(pod=pod.name, probe=kind, path=path):
                    self.assertNotEqual(get_status(svc, path), 404)
                    self.assertEqual(wait_for_200(svc, path), 200)

    def test_grace_period_outlasts_prestop_and_shutdown(self):
        for pod in self.pods:
            if tuple(pod.args) not in LONG_RUNNING:
                continue
            grace = pod.spec.get("terminationGracePeriodSeconds", 30)
            pre_stop = 0
            hook = pod.container.get("lifecycle", {}).get("preStop", {})
            if "exec" in hook:
                command = hook["exec"]["command"]
                self.assertEqual(command[0], "sleep", pod.name)
                pre_stop = float(command[1])
            elif "sleep" in hook:
                pre_stop = float(hook["sleep"]["seconds"])
            budget = pre_stop + shutdown_budget(pod.env)
            self.assertGreater(grace, budget, "%s: %ss grace < preStop %s + drain/timeout/actors" %
                               (pod.name, grace, pre_stop))
        # The API sits behind a Service: it must sleep before SIGTERM so the
        # endpoints drop it first.
        api = self.by_name["clean-service-api"]
        self.assertIn("preStop", api.container.get("lifecycle", {}))

    def test_args_are_commands_the_cli_accepts(self):
        for pod in self.pods:
            with self.subTest(pod=pod.name, args=pod.args):
                r = run_cli(["--check", *pod.args])
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_every_variable_is_documented(self):
        self.assertTrue(self.configmaps and self.secrets)
        for pod in self.pods:
            for name in sorted(pod.env_names):
                with self.subTest(pod=pod.name, variable=name):
                    self.assertTrue(documented(name),
                                    "%s sets %s, which clean-service --help does not document" % (pod.name, name))
        for cm in self.configmaps.values():
            for name in cm:
                self.assertTrue(documented(name), name)
        # The Secret carries the secrets, the ConfigMap none of them.
        secret_keys = set().union(*self.secrets.values())
        for name in ("DATABASE_URL", "METRICS_TOKEN", "ADMIN_BASIC_USERNAME", "ADMIN_BASIC_PASSWORD",
                     "STRIPE_WEBHOOK_SECRET"):
            self.assertIn(name, secret_keys)
        for cm in self.configmaps.values():
            self.assertFalse(set(cm) & {"DATABASE_URL", "METRICS_TOKEN", "ADMIN_BASIC_PASSWORD"})

    def test_the_example_configuration_is_accepted(self):
        # Each pod's settings (image ENV, ConfigMap, Secret example, its own
        # env) pass the service's checks, production rules included: a bad
        # value would make `migrate --status` exit 2 before it reads the
        # ledger. Only DATABASE_URL points at the test's database.
        for pod in self.pods:
            with self.subTest(pod=pod.name):
                r = run_cli(["migrate", "--status"], env=dict(pod.env, DATABASE_URL=pg.url))
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


class ComposeFile(unittest.TestCase):
    def setUp(self):
        self.compose = load_compose()
        self.values = compose_env_example()
        self.clean = clean_services(self.compose)

    def test_services_and_order(self):
        services_ = self.compose["services"]
        for name in ("postgres", "migrate", "api", "jobs-runner", "prometheus"):
            self.assertIn(name, services_)
        self.assertEqual(services_["postgres"]["image"].split(":")[0], "postgres")
        self.assertIn("pg_isready", " ".join(services_["postgres"]["healthcheck"]["test"]))
        self.assertEqual(services_["migrate"]["command"], ["migrate"])
        self.assertEqual(str(services_["migrate"]["restart"]), "no")
        self.assertEqual(services_["migrate"]["depends_on"]["postgres"]["condition"], "service_healthy")
        self.assertEqual(services_["api"]["command"], ["serve", "--no-jobs"])
        self.assertEqual(services_["jobs-runner"]["command"], ["jobs-runner"])
        for name in ("api", "jobs-runner"):
            self.assertEqual(services_[name]["depends_on"]["migrate"]["condition"],
                             "service_completed_successfully")
        for name in ("migrate", "api", "jobs-runner"):
            self.assertIn(name, self.clean)
            self.assertEqual(self.clean[name]["build"]["context"], "..")
            self.assertTrue(os.path.exists(os.path.join(DEPLOY, "..", self.clean[name]["build"]["dockerfile"])))

    def long_running(self):
        for name, s in self.clean.items():
            if "entrypoint" not in s and tuple(s.get("command", [])) in LONG_RUNNING:
                yield name, s

    def test_healthchecks_use_the_port_the_settings_listen_on(self):
        seen = 0
        for name, s in self.long_running():
            env = compose_env(s, self.values)
            url = healthcheck_url(s)
            self.assertIsNotNone(url, name)
            self.assertIn(url.hostname, ("127.0.0.1", "localhost"), name)
            self.assertEqual(url.port, listen_port(env), name)
            self.assertEqual(url.path, "/readyz", name)
            self.assertIn(env.get("HOST"), ("0.0.0.0", "::"), name)
            seen += 1
        self.assertEqual(seen, 2)

    def test_healthcheck_paths_are_routes_of_the_command(self):
        for name, s in self.long_running():
            path = healthcheck_url(s).path
            with self.subTest(service=name, path=path):
                svc = service(*s["command"])
                self.assertNotEqual(get_status(svc, path), 404)
                self.assertEqual(wait_for_200(svc, path), 200)

    def test_stop_grace_period_outlasts_the_shutdown(self):
        for name, s in self.long_running():
            env = compose_env(s, self.values)
            self.assertIn("stop_grace_period", s, name)
            self.assertGreater(duration_seconds(s["stop_grace_period"]), shutdown_budget(env), name)

    def test_commands_are_accepted_by_the_cli(self):
        for name, s in self.clean.items():
            if "entrypoint" in s:
                continue  # a helper (storage-init) that runs another program
            with self.subTest(service=name):
                r = run_cli(["--check", *s["command"]])
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_every_variable_is_documented_and_every_secret_is_in_the_example(self):
        for name, s in self.clean.items():
            for var in compose_env(s, self.values):
                with self.subTest(service=name, variable=var):
                    self.assertTrue(documented(var), var)
        with open(COMPOSE) as f:
            text = f.read()
        used = {m.group(1) for m in INTERPOLATION.finditer(text)}
        self.assertEqual(used, set(self.values), "compose.yaml and compose.env.example disagree")
        # With the example's values, nothing required is missing.
        for name, s in self.clean.items():
            compose_env(s, self.values)

    def test_secret_files_and_mounts_exist(self):
        prometheus = self.compose["services"]["prometheus"]
        for volume in prometheus["volumes"]:
            source = volume.split(":")[0]
            if source.startswith("."):
                self.assertTrue(os.path.exists(os.path.join(DEPLOY, source)), source)
        with open(os.path.join(DEPLOY, "prometheus", "prometheus.compose.yml")) as f:
            scrape = yaml.safe_load(f)
        job = scrape["scrape_configs"][0]
        with open(os.path.join(DEPLOY, "prometheus", "prometheus.yml")) as f:
            self.assertEqual(job["job_name"], yaml.safe_load(f)["scrape_configs"][0]["job_name"])
        self.assertIs(job["honor_labels"], True)
        secrets = prometheus["secrets"]
        self.assertEqual(job["authorization"]["credentials_file"], "/run/secrets/" + secrets[0])
        self.assertIn(secrets[0], self.compose["secrets"])
        # The DNS names are the compose services, on the port they listen on.
        for sd in job["dns_sd_configs"]:
            for target in sd["names"]:
                env = compose_env(self.compose["services"][target], self.values)
                self.assertEqual(sd["port"], listen_port(env), target)

    @unittest.skipUnless(shutil.which("promtool"), "promtool not installed")
    def test_compose_scrape_config_is_valid(self):
        work = tempfile.mkdtemp(prefix="clean-e2e-deploy-")
        try:
            token = os.path.join(work, "token")
            with open(token, "w") as f:
                f.write(TOKEN)
            with open(os.path.join(DEPLOY, "prometheus", "prometheus.compose.yml")) as f:
                config = f.read().replace("/run/secrets/metrics_token", token)
            with open(os.path.join(work, "prometheus.yml"), "w") as f:
                f.write(config)
            shutil.copy(os.path.join(DEPLOY, "prometheus", "alerts.yml"), work)
            r = subprocess.run(["promtool", "check", "config", os.path.join(work, "prometheus.yml")],
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        finally:
            shutil.rmtree(work, ignore_errors=True)


# == (b) the dashboard ==============================================================

REQUIRED_DASHBOARD_METRICS = {
    "http_request_latency_seconds_count", "http_request_latency_seconds_bucket", "http_5xx_total",
    "readiness_check_up", "job_last_heartbeat_timestamp", "job_last_success_timestamp", "job_overdue",
    "email_dlq_messages", "outbox_queue_messages", "circuit_state", "circuit_transitions_total",
    "actor_restarts_total", "actor_mailbox_size", "actor_messages_shed_total", "db_pool_connections",
    "db_pool_waiting_requests", "db_pool_timeout_total", "db_pool_wait_seconds_bucket", "webhook_events_total",
    "webhook_errors_total", "process_resident_memory_bytes", "process_memory_limit_bytes",
}


class GrafanaDashboard(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(DASHBOARD) as f:
            cls.dashboard = json.load(f)
        cls.exprs = dashboard_exprs(cls.dashboard)

    def used_metrics(self):
        names = set()
        for _, expr in self.exprs:
            names |= set(metric_occurrences(expr))
        for var in self.dashboard["templating"]["list"]:
            query = var.get("query")
            query = query.get("query", "") if isinstance(query, dict) else (query or "")
            names |= set(re.findall(r"label_values\(\s*([a-zA-Z_:][\w:]*)", query))
        return names

    def test_structure_and_variables(self):
        self.assertGreaterEqual(self.dashboard["schemaVersion"], 36)
        variables = {v["name"]: v for v in self.dashboard["templating"]["list"]}
        self.assertEqual(variables["datasource"]["type"], "datasource")
        self.assertEqual(variables["datasource"]["query"], "prometheus")
        self.assertIn("instance", variables)
        ids = [p["id"] for p in dashboard_panels(self.dashboard)]
        self.assertEqual(len(ids), len(set(ids)))
        for p in dashboard_panels(self.dashboard):
            if p["type"] == "row":
                continue
            self.assertTrue(p.get("targets"), p["title"])
            self.assertEqual(p["datasource"]["uid"], "${datasource}", p["title"])
            for t in p["targets"]:
                self.assertEqual(t["datasource"]["uid"], "${datasource}", p["title"])
        self.assertGreater(len(self.exprs), 30)

    def test_every_selector_follows_the_instance_variable(self):
        for title, expr in self.exprs:
            with self.subTest(panel=title):
                self.assertGreaterEqual(expr.count('instance=~"$instance"'), len(metric_occurrences(expr)), expr)

    def test_the_required_series_are_on_it(self):
        self.assertEqual(REQUIRED_DASHBOARD_METRICS - self.used_metrics(), set())

    def test_every_metric_exists_in_a_scrape_of_serve(self):
        scraped = scrape_names(service("serve"))
        self.assertIn("http_request_latency_seconds_bucket", scraped)
        self.assertEqual(self.used_metrics() - scraped, set(), "the dashboard queries series serve does not export")

    def test_every_metric_exists_in_the_split_deployment(self):
        # What compose and Kubernetes run: the API without jobs, and the runner.
        scraped = scrape_names(service("serve", "--no-jobs")) | scrape_names(service("jobs-runner"))
        self.assertEqual(self.used_metrics() - scraped, set())

    @unittest.skipUnless(shutil.which("promtool"), "promtool not installed")
    def test_expressions_parse(self):
        work = tempfile.mkdtemp(prefix="clean-e2e-deploy-")
        try:
            rules = [{"record": "dashboard:expr_%d" % i,
                      "expr": expr.replace("$__rate_interval", "5m").replace("$instance", ".+")}
                     for i, (_, expr) in enumerate(self.exprs)]
            path = os.path.join(work, "rules.yml")
            with open(path, "w") as f:
                yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}, f)
            r = subprocess.run(["promtool", "check", "rules", path], capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        finally:
            shutil.rmtree(work, ignore_errors=True)


# == (c) scripts/smoke ==============================================================

def smoke(url, timeout=60, **env):
    full = dict(os.environ)
    for key in ("METRICS_TOKEN", "API_KEY", "ADMIN_BASIC_USERNAME", "ADMIN_BASIC_PASSWORD", "SMOKE_TIMEOUT"):
        full.pop(key, None)
    full.update({k: str(v) for k, v in env.items()})
    r = subprocess.run([SMOKE, url], env=full, capture_output=True, text=True, timeout=timeout)
    lines = {}
    for line in r.stdout.splitlines():
        word, _, rest = line.partition(" ")
        if word in ("healthz", "readyz", "metrics", "api", "jobs"):
            lines[word] = rest.strip()
    return r, lines


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Smoke(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.svc = service("serve", "--no-jobs")
        cls.url = "http://127.0.0.1:%d" % cls.svc.port
        r = run_cli(["api-keys", "create", "--name", "smoke"], env={"DATABASE_URL": pg.url})
        assert r.returncode == 0, r.stderr
        cls.key = r.stdout.strip()
        assert cls.key.startswith("csk_"), cls.key

    def test_the_routes_it_calls_are_in_the_openapi_description(self):
        with open(os.path.join(SOURCE, "docs", "openapi.yaml")) as f:
            paths = yaml.safe_load(f)["paths"]
        with open(SMOKE) as f:
            script = f.read()
        for path in ("/healthz", "/readyz", "/metrics", "/v1/customers", "/v1/admin/jobs/status"):
            self.assertIn("get", paths[path], path)
            self.assertIn(path, script)
        limit = [p for p in paths["/v1/customers"]["get"]["parameters"] if p.get("$ref", "").endswith("/Limit")]
        self.assertTrue(limit)
        self.assertTrue(os.access(SMOKE, os.X_OK))

    def test_with_every_credential_every_check_is_ok(self):
        r, lines = smoke(self.url, METRICS_TOKEN=TOKEN, API_KEY=self.key, ADMIN_BASIC_USERNAME=ADMIN_USER,
                         ADMIN_BASIC_PASSWORD=ADMIN_PASSWORD)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(list(lines), ["healthz", "readyz", "metrics", "api", "jobs"], r.stdout)
        for name, result in lines.items():
            self.assertEqual(result, "ok", (name, r.stdout))
        self.assertNotIn("FAIL", r.stdout)
        self.assertNotIn(self.key, r.stdout + r.stderr)

    def test_without_credentials_the_guarded_checks_skip(self):
        r, lines = smoke(self.url, METRICS_TOKEN=TOKEN)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(lines["metrics"], "ok")
        self.assertTrue(lines["api"].startswith("SKIP ("), r.stdout)
        self.assertIn("API_KEY", lines["api"])
        self.assertTrue(lines["jobs"].startswith("SKIP ("), r.stdout)
        self.assertIn("ADMIN_BASIC_USERNAME", lines["jobs"])

    def test_an_open_metrics_endpoint_is_reported_as_unauthenticated(self):
        dev = service("serve", "--no-jobs", production=False)
        r, lines = smoke("http://127.0.0.1:%d/" % dev.port)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("unauthenticated", lines["metrics"])
        self.assertIn("METRICS_TOKEN", lines["metrics"])
        self.assertTrue(lines["api"].startswith("SKIP"))
        self.assertTrue(lines["jobs"].startswith("SKIP"))
        # Quotes, backslashes and spaces in a password reach the service intact.
        r, lines = smoke("http://127.0.0.1:%d" % dev.port, ADMIN_BASIC_USERNAME=ADMIN_USER,
                         ADMIN_BASIC_PASSWORD=TRICKY_PASSWORD)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(lines["jobs"], "ok")

    def test_metrics_without_the_token_fails_with_a_hint(self):
        r, lines = smoke(self.url, API_KEY=self.key)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertTrue(lines["metrics"].startswith("FAIL (401"), r.stdout)
        self.assertIn("set METRICS_TOKEN", r.stdout)
        self.assertNotIn("api", lines, "checks after the first failure must not run")
        self.assertIn("FAILED at metrics", r.stdout)

    def test_a_wrong_key_or_password_fails(self):
        r, lines = smoke(self.url, METRICS_TOKEN=TOKEN, API_KEY="csk_not_a_key")
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertTrue(lines["api"].startswith("FAIL (401"), r.stdout)
        r, lines = smoke(self.url, METRICS_TOKEN=TOKEN, ADMIN_BASIC_USERNAME="oncall",
                         ADMIN_BASIC_PASSWORD='wrong "quoted" \\ password')
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertTrue(lines["jobs"].startswith("FAIL (401"), r.stdout)

    def test_nothing_listening_fails_at_the_first_check(self):
        r, lines = smoke("http://127.0.0.1:%d" % free_port())
        self.assertNotEqual(r.returncode, 0)
        self.assertTrue(lines["healthz"].startswith("FAIL ("), r.stdout)
        self.assertEqual(list(lines), ["healthz"])
        self.assertIn("FAILED at healthz", r.stdout)

    def test_a_silent_server_is_bounded_by_the_timeout(self):
        # Accepts connections (the kernel completes them) and never answers.
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen(8)
            started = time.monotonic()
            r, lines = smoke("http://127.0.0.1:%d" % s.getsockname()[1], timeout=30, SMOKE_TIMEOUT=1)
            elapsed = time.monotonic() - started
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertTrue(lines["healthz"].startswith("FAIL ("), r.stdout)
        self.assertLess(elapsed, 10)

    def test_usage(self):
        r = subprocess.run([SMOKE], capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 2)
        self.assertIn("usage", r.stderr)


if __name__ == "__main__":
    unittest.main()
