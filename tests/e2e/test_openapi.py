"""docs/openapi.yaml kept true: every documented operation is routed by the
real binary, every route registered in http/*.cpp is documented, and the
answers the service gives (records, lists, errors, health) match the
documented statuses, headers and schemas."""

import glob
import json
import os
import re
import unittest
import uuid

import yaml

from harness import SOURCE, Service, create_api_key, migrated_postgres

SPEC_FILE = os.path.join(SOURCE, "docs", "openapi.yaml")
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# Values for path parameters when probing routes: nothing exists under them.
DUMMY_PARAMS = {"id": "999999", "token": "x", "path": "root/db/probe"}
# Documented response headers the service sends on every such response.
ALWAYS_SENT = {"x-request-id", "www-authenticate", "retry-after"}
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
# `routes.add(method_kind::get, "/x", ...)` or `routes.add(m::post, "/x", ...)`.
ROUTE_ADD = re.compile(r'\broutes\.add\(\s*(?:method_kind|m)::(\w+)\s*,\s*"([^"]*)"')
SOURCE_METHODS = {"get": "get", "head": "head", "post": "post", "put": "put", "patch": "patch",
                  "del": "delete", "options": "options"}


def load_spec():
    with open(SPEC_FILE, encoding="utf-8") as f:
        return yaml.safe_load(f)


def operations(spec):
    """(path template, method, operation) for every documented operation."""
    for path, item in spec.get("paths", {}).items():
        for method in HTTP_METHODS:
            if method in item:
                yield path, method, item[method]


def lookup(spec, ref):
    if not ref.startswith("#/"):
        raise AssertionError("only local $refs are supported: " + ref)
    node = spec
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or part not in node:
            raise AssertionError("unresolvable $ref " + ref)
        node = node[part]
    return node


def resolve(spec, node):
    seen = 0
    while isinstance(node, dict) and "$ref" in node:
        node = lookup(spec, node["$ref"])
        seen += 1
        if seen > 20:
            raise AssertionError("$ref cycle")
    return node


def validate(spec, schema, value, where="$"):
    """Problems of `value` against an OpenAPI 3.0 schema (the subset used in
    docs/openapi.yaml). Objects are strict: a field the service returns but
    the schema does not list is a problem, so new fields must be documented."""
    schema = resolve(spec, schema)
    if value is None:
        return [] if schema.get("nullable") else [where + ": null but not nullable"]
    problems = []
    kind = schema.get("type")
    type_ok = {
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        "string": lambda v: isinstance(v, str),
        "boolean": lambda v: isinstance(v, bool),
        "array": lambda v: isinstance(v, list),
        "object": lambda v: isinstance(v, dict),
        None: lambda v: True,
    }[kind]
    if not type_ok(value):
        return ["%s: %r is not of type %s" % (where, value, kind)]
    if "enum" in schema and value not in schema["enum"]:
        problems.append("%s: %r not in %r" % (where, value, schema["enum"]))
    if kind == "string":
        if len(value) < schema.get("minLength", 0) or len(value) > schema.get("maxLength", len(value)):
            problems.append("%s: length %d outside the documented range" % (where, len(value)))
        if "pattern" in schema and not re.search(schema["pattern"], value):
            problems.append("%s: %r does not match %s" % (where, value, schema["pattern"]))
        if schema.get("format") == "date-time" and not RFC3339.match(value):
            problems.append("%s: %r is not an RFC 3339 time" % (where, value))
    if kind in ("integer", "number"):
        if "minimum" in schema and value < schema["minimum"]:
            problems.append("%s: %r below minimum %r" % (where, value, schema["minimum"]))
        if "maximum" in schema and value > schema["maximum"]:
            problems.append("%s: %r above maximum %r" % (where, value, schema["maximum"]))
    if kind == "array" and "items" in schema:
        for i, item in enumerate(value):
            problems += validate(spec, schema["items"], item, "%s[%d]" % (where, i))
    if kind == "object":
        props = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in value:
                problems.append("%s: required field %r missing" % (where, name))
        for name, item in value.items():
            if name not in props:
                problems.append("%s: field %r is not documented" % (where, name))
            else:
                problems += validate(spec, props[name], item, where + "." + name)
    return problems


def fill(template, params=DUMMY_PARAMS):
    return re.sub(r"\{(\w+)\}", lambda m: params[m.group(1)], template)


def registered_routes():
    """(method, template) of every route registered in http/*.cpp, with
    `{name...}` written `{name}` as OpenAPI has it; and how many
    `routes.add(` calls there are, to notice one this regex cannot read."""
    routes = []
    calls = 0
    for path in sorted(glob.glob(os.path.join(SOURCE, "http", "*.cpp"))):
        with open(path, encoding="utf-8") as f:
            text = f.read()
        calls += len(re.findall(r"\broutes\.add\(", text))
        for method, template in ROUTE_ADD.findall(text):
            routes.append((SOURCE_METHODS.get(method, method), re.sub(r"\{(\w+)\.\.\.\}", r"{\1}", template)))
    return routes, calls


class DocumentTest(unittest.TestCase):
    """Static checks: the document itself and the route registrations."""

    @classmethod
    def setUpClass(cls):
        cls.spec = load_spec()

    def test_is_openapi_3_with_info_and_paths(self):
        spec = self.spec
        self.assertIsInstance(spec, dict)
        self.assertRegex(str(spec.get("openapi", "")), r"^3\.\d+\.\d+$")
        self.assertTrue(spec["info"]["title"])
        self.assertTrue(spec["info"]["version"])
        self.assertIsInstance(spec["paths"], dict)
        self.assertTrue(spec["paths"])
        for path, method, op in operations(spec):
            with self.subTest(op=method.upper() + " " + path):
                self.assertTrue(path.startswith("/"))
                self.assertTrue(op.get("responses"), "no responses")
                self.assertTrue(op.get("summary") or op.get("description"))

    def test_every_ref_resolves(self):
        def walk(node, where):
            if isinstance(node, dict):
                if "$ref" in node:
                    with self.subTest(at=where):
                        lookup(self.spec, node["$ref"])
                for k, v in node.items():
                    walk(v, where + "/" + str(k))
            elif isinstance(node, list):
                for i, v in enumerate(node):
                    walk(v, "%s/%d" % (where, i))

        walk(self.spec, "#")

    def test_path_parameters_match_templates(self):
        for path, method, op in operations(self.spec):
            with self.subTest(op=method.upper() + " " + path):
                params = [resolve(self.spec, p) for p in op.get("parameters", [])]
                documented = {p["name"] for p in params if p["in"] == "path"}
                self.assertEqual(documented, set(re.findall(r"\{(\w+)\}", path)))
                for p in params:
                    if p["in"] == "path":
                        self.assertTrue(p.get("required"), p["name"] + " must be required")

    def test_conventions_of_the_client_api(self):
        for path, method, op in operations(self.spec):
            name = method.upper() + " " + path
            params = {(p["in"], p["name"]) for p in (resolve(self.spec, p) for p in op.get("parameters", []))}
            with self.subTest(op=name):
                for status, response in op["responses"].items():
                    headers = resolve(self.spec, response).get("headers", {})
                    self.assertIn("X-Request-ID", headers, "response %s lacks X-Request-ID" % status)
                if not path.startswith("/v1/") or path.startswith("/v1/admin/"):
                    continue
                if method == "post":
                    self.assertIn(("header", "Idempotency-Key"), params)
                    ok = [s for s in op["responses"] if s.startswith("2")]
                    for status in ok:
                        headers = resolve(self.spec, op["responses"][status]).get("headers", {})
                        self.assertIn("Idempotent-Replayed", headers)
                if path.startswith("/v1/nps/"):
                    self.assertEqual(op.get("security"), [], "the NPS link needs no API key")
                else:
                    self.assertEqual(op.get("security"), [{"apiKey": []}])
                    self.assertIn("401", op["responses"])

    def test_every_registered_route_is_documented(self):
        registered, calls = registered_routes()
        routes = set(registered)
        documented = {(method, path) for path, method, _ in operations(self.spec)}
        for method, template in sorted(routes):
            with self.subTest(route=method.upper() + " " + template):
                if method == "head":  # answered by GET when both exist
                    self.assertTrue(("head", template) in documented or ("get", template) in documented)
                else:
                    self.assertIn((method, template), documented)
        self.assertEqual(len(registered), calls,
                         "a routes.add(...) call in http/*.cpp is not in the form this test reads; extend ROUTE_ADD")
        self.assertGreaterEqual(len(routes), 19, "fewer routes than the service had when this test was written")
        # The other direction, statically (LiveTest probes the binary).
        self.assertEqual(documented - routes, set(), "documented but not registered in http/*.cpp")


class Conformance:
    """Sends requests and checks each answer against the document."""

    def call(self, method, template, path=None, body=None, headers=None):
        """`path` (default: `template`) with a JSON body; returns status,
        lower-cased headers and the parsed body."""
        path = path or template
        data = None if body is None else (body if isinstance(body, (str, bytes)) else json.dumps(body))
        headers = dict(headers or {})
        if data is not None:
            headers.setdefault("Content-Type", "application/json")
        status, raw_headers, raw = self.svc.request(method.upper(), path, body=data, headers=headers)
        response_headers = {k.lower(): v for k, v in raw_headers.items()}
        parsed = self.conform(template, method, status, response_headers, raw)
        return status, response_headers, parsed

    def conform(self, template, method, status, headers, raw):
        name = "%s %s -> %d" % (method.upper(), template, status)
        op = self.spec["paths"][template][method]
        responses = op["responses"]
        self.assertTrue(str(status) in responses or "default" in responses,
                        "%s: status not documented (%s)" % (name, raw[:300]))
        response = resolve(self.spec, responses.get(str(status), responses.get("default")))
        for header in response.get("headers", {}):
            if header.lower() in ALWAYS_SENT:
                self.assertIn(header.lower(), headers, "%s: documented header %s missing" % (name, header))
        self.assertIn("x-request-id", headers, name)
        content = response.get("content")
        if not content:
            return raw
        media = headers.get("content-type", "").split(";")[0].strip()
        self.assertIn(media, content, "%s: Content-Type %r not documented" % (name, media))
        schema = content[media].get("schema")
        if media != "application/json":
            return raw.decode("utf-8")
        value = json.loads(raw)
        if schema:
            problems = validate(self.spec, schema, value)
            self.assertEqual(problems, [], "%s: %s" % (name, json.dumps(value)[:500]))
        return value


class LiveTest(Conformance, unittest.TestCase):
    """The real binary against the document: one PostgreSQL and one service
    for the whole class."""

    @classmethod
    def setUpClass(cls):
        cls.spec = load_spec()
        # Class cleanups run even when setUpClass fails half-way.
        cls.pg = migrated_postgres()
        cls.addClassCleanup(cls.pg.destroy)
        cls.key = create_api_key(cls.pg.url, "openapi-e2e")
        # No fault injection: the crash/hang drills must be refused, never run.
        cls.svc = Service(cls.pg.url, FAULT_INJECTION=0)
        cls.addClassCleanup(cls.svc.stop)
        cls.svc.start()

    def auth(self, **extra):
        headers = {"Authorization": "Bearer " + self.key}
        headers.update(extra)
        return headers

    def test_every_documented_operation_is_routed(self):
        for template, method, _ in operations(self.spec):
            with self.subTest(op=method.upper() + " " + template):
                path = fill(template)
                body = "{}" if method in ("post", "put", "patch") else None
                headers = {"Content-Type": "application/json"} if body else {}
                status, response_headers, raw = self.svc.request(method.upper(), path, body=body, headers=headers)
                # First: did the router take it? (405: path known, method not;
                # 404 "no route for ...": path unknown.)
                self.assertNotEqual(status, 405, "%s %s: %r" % (method, path, raw))
                if status == 404:
                    message = json.loads(raw)["error"]["message"]
                    self.assertFalse(message.startswith("no route for"), "%s %s: %s" % (method, path, message))
                # Then: is the answer one the document promises?
                answer = self.conform(template, method, status, {k.lower(): v for k, v in response_headers.items()},
                                      raw)
                if template.startswith("/v1/admin/supervisor/"):
                    # FAULT_INJECTION is off: refused before anything happens.
                    self.assertEqual(status, 403, answer)
                    self.assertEqual(answer["error"]["code"], "fault_injection_disabled")

    def test_unmatched_paths_are_told_apart(self):
        # The signal the probe above relies on.
        status, _, body = self.svc.get("/v1/no-such-thing")
        self.assertEqual(status, 404)
        self.assertTrue(json.loads(body)["error"]["message"].startswith("no route for"))
        status, _, body = self.svc.request("DELETE", "/v1/customers")
        self.assertEqual(status, 405)

    def test_client_api_answers_match_the_schemas(self):
        # Customers: create, replay, get, list with paging.
        key = str(uuid.uuid4())
        status, headers, ada = self.call("post", "/v1/customers",
                                         body={"name": "Ada", "email": "ada@example.com"},
                                         headers=self.auth(**{"Idempotency-Key": key}))
        self.assertEqual(status, 201)
        self.assertNotIn("idempotent-replayed", headers)
        status, headers, again = self.call("post", "/v1/customers",
                                           body={"name": "Ada", "email": "ada@example.com"},
                                           headers=self.auth(**{"Idempotency-Key": key}))
        self.assertEqual(status, 201)
        self.assertEqual(headers.get("idempotent-replayed"), "true")
        self.assertEqual(again, ada)
        status, _, error = self.call("post", "/v1/customers", body={"name": "Other", "email": "o@example.com"},
                                     headers=self.auth(**{"Idempotency-Key": key}))
        self.assertEqual(status, 422)
        self.assertEqual(error["error"]["code"], "idempotency_key_reused")
        status, _, bob = self.call("post", "/v1/customers",
                                   body={"name": "Bob", "email": "bob@example.com", "phone": "+1 555 0100"},
                                   headers=self.auth())
        self.assertEqual(status, 201)
        status, _, got = self.call("get", "/v1/customers/{id}", "/v1/customers/%d" % ada["id"], headers=self.auth())
        self.assertEqual((status, got), (200, ada))
        # One per page: every page but the last has a cursor.
        seen, cursor = [], ""
        for _ in range(50):
            status, _, page = self.call("get", "/v1/customers", "/v1/customers?limit=1&status=active&cursor=" + cursor,
                                        headers=self.auth())
            self.assertEqual(status, 200)
            self.assertLessEqual(len(page["data"]), 1)
            seen += [c["id"] for c in page["data"]]
            if page["next_cursor"] is None:
                break
            cursor = page["next_cursor"]
        self.assertLess(seen.index(ada["id"]), seen.index(bob["id"]))

        # Bookings: create, unknown customer, list, transitions.
        booking = {"customer_id": ada["id"], "scheduled_at": "2026-12-01T09:30:00+01:00", "duration_minutes": 90,
                   "address": "1 Main Street", "price_cents": 9900, "currency": "EUR"}
        status, _, first = self.call("post", "/v1/bookings", body=booking, headers=self.auth())
        self.assertEqual(status, 201)
        status, _, second = self.call("post", "/v1/bookings", body=dict(booking, currency="eur"), headers=self.auth())
        self.assertEqual(status, 201)
        status, _, error = self.call("post", "/v1/bookings", body=dict(booking, customer_id=999999),
                                     headers=self.auth())
        self.assertEqual(status, 422)
        self.assertEqual(error["error"]["code"], "unknown_customer")
        self.assertEqual(error["error"]["fields"][0]["field"], "customer_id")
        status, _, page = self.call("get", "/v1/bookings",
                                    "/v1/bookings?customer_id=%d&status=scheduled,completed"
                                    "&from=2026-01-01T00:00:00Z&to=2027-01-01T00:00:00Z" % ada["id"],
                                    headers=self.auth())
        self.assertEqual(status, 200)
        self.assertEqual([b["id"] for b in page["data"]], [first["id"], second["id"]])
        self.assertIsNone(page["next_cursor"])
        status, _, got = self.call("get", "/v1/bookings/{id}", "/v1/bookings/%d" % first["id"], headers=self.auth())
        self.assertEqual((status, got), (200, first))

        # Invoices.
        invoice = {"booking_id": first["id"], "amount_cents": 9900, "currency": "EUR",
                   "due_at": "2026-12-15T00:00:00Z", "stripe_payment_intent_id": "pi_openapi_1"}
        status, _, inv = self.call("post", "/v1/invoices", body=invoice, headers=self.auth())
        self.assertEqual(status, 201)
        status, _, error = self.call("post", "/v1/invoices", body=dict(invoice, booking_id=second["id"]),
                                     headers=self.auth())
        self.assertEqual(status, 409)
        self.assertEqual(error["error"]["code"], "duplicate_payment_intent")
        status, _, got = self.call("get", "/v1/invoices/{id}", "/v1/invoices/%d" % inv["id"], headers=self.auth())
        self.assertEqual((status, got), (200, inv))
        status, _, page = self.call("get", "/v1/invoices", "/v1/invoices?booking_id=%d&status=open" % first["id"],
                                    headers=self.auth())
        self.assertEqual((status, [i["id"] for i in page["data"]]), (200, [inv["id"]]))

        # Transitions, and the survey the completion creates.
        status, _, done = self.call("post", "/v1/bookings/{id}/complete", "/v1/bookings/%d/complete" % first["id"],
                                    headers=self.auth(**{"Idempotency-Key": str(uuid.uuid4())}))
        self.assertEqual((status, done["status"]), (200, "completed"))
        self.assertIsNotNone(done["completed_at"])
        status, _, error = self.call("post", "/v1/bookings/{id}/cancel", "/v1/bookings/%d/cancel" % first["id"],
                                     headers=self.auth())
        self.assertEqual((status, error["error"]["code"]), (409, "invalid_state"))
        status, _, cancelled = self.call("post", "/v1/bookings/{id}/cancel", "/v1/bookings/%d/cancel" % second["id"],
                                         headers=self.auth())
        self.assertEqual((status, cancelled["status"]), (200, "cancelled"))
        status, _, error = self.call("post", "/v1/bookings/{id}/complete", "/v1/bookings/999999/complete",
                                     headers=self.auth())
        self.assertEqual(status, 404)

        token = self.pg.psql("SELECT token FROM nps_surveys WHERE booking_id = %d" % first["id"])
        self.assertTrue(token)
        nps_path = "/v1/nps/" + token
        status, _, answer = self.call("post", "/v1/nps/{token}", nps_path, body={"score": 9, "comment": "Spotless"},
                                      headers={"Idempotency-Key": "nps-1"})
        self.assertEqual((status, answer["score"], answer["status"]), (201, 9, "answered"))
        status, headers, replay = self.call("post", "/v1/nps/{token}", nps_path,
                                            body={"score": 9, "comment": "Spotless"},
                                            headers={"Idempotency-Key": "nps-1"})
        self.assertEqual((status, headers.get("idempotent-replayed"), replay), (201, "true", answer))
        status, _, error = self.call("post", "/v1/nps/{token}", nps_path, body={"score": 3})
        self.assertEqual((status, error["error"]["code"]), (409, "already_answered"))
        status, _, error = self.call("post", "/v1/nps/{token}", "/v1/nps/nope", body={"score": 3})
        self.assertEqual(status, 404)

    def test_client_api_errors_match_the_schemas(self):
        status, headers, error = self.call("get", "/v1/customers", headers={})
        self.assertEqual((status, error["error"]["code"]), (401, "unauthorized"))
        status, headers, error = self.call("get", "/v1/customers", headers={"Authorization": "Bearer csk_nope"})
        self.assertEqual((status, error["error"]["code"]), (401, "invalid_api_key"))
        self.assertIn("invalid_token", headers["www-authenticate"])
        status, _, error = self.call("post", "/v1/customers", body={"phone": "abc"}, headers=self.auth())
        self.assertEqual(status, 422)
        self.assertEqual(error["error"]["code"], "validation_failed")
        self.assertEqual({f["field"] for f in error["error"]["fields"]}, {"name", "email", "phone"})
        status, _, error = self.call("post", "/v1/invoices", body="not json", headers=self.auth())
        self.assertEqual((status, error["error"]["code"]), (400, "invalid_json"))
        status, _, error = self.call("post", "/v1/bookings", body={}, headers=self.auth(**{"Idempotency-Key": "a b"}))
        self.assertEqual((status, error["error"]["fields"][0]["field"]), (422, "Idempotency-Key"))
        status, _, error = self.call("get", "/v1/invoices", "/v1/invoices?limit=0&status=lost&cursor=bogus",
                                     headers=self.auth())
        self.assertEqual(status, 422)
        self.assertEqual({f["field"] for f in error["error"]["fields"]}, {"limit", "status", "cursor"})
        status, _, error = self.call("get", "/v1/bookings/{id}", "/v1/bookings/abc", headers=self.auth())
        self.assertEqual(status, 404)
        status, _, error = self.call("get", "/v1/customers/{id}", "/v1/customers/999999", headers=self.auth())
        self.assertEqual((status, error["error"]["code"]), (404, "not_found"))

    def test_ops_and_admin_answers_match_the_schemas(self):
        for template in ("/healthz", "/livez"):
            status, _, body = self.call("get", template)
            self.assertEqual((status, body["status"]), (200, "ok"))
            status, _, text = self.call("get", template, template + "?verbose")
            self.assertEqual(status, 200)
            self.assertIn("[+]ping ok", text)
        status, _, body = self.call("get", "/readyz")
        self.assertEqual((status, body["status"]), (200, "ok"), body)
        status, _, body = self.call("get", "/readyz", "/readyz?exclude=jobs,supervisor")
        self.assertEqual(status, 200)
        self.assertTrue(body["jobs"]["excluded"])
        status, _, text = self.call("get", "/readyz", "/readyz?verbose")
        self.assertIn("readyz check passed", text)
        status, headers, text = self.call("get", "/metrics")
        self.assertEqual(status, 200)
        self.assertIn("http_5xx_total", text)
        status, _, tree = self.call("get", "/v1/admin/supervisor")
        self.assertEqual((status, tree["path"]), (200, "root"))
        # Probed with percent-encoded slashes too: still refused, not crashed.
        status, _, body = self.call("post", "/v1/admin/supervisor/{path}/hang",
                                    "/v1/admin/supervisor/root%2Fdb%2Fprobe/hang")
        self.assertEqual((status, body["error"]["code"]), (403, "fault_injection_disabled"))


class MetricsTokenTest(Conformance, unittest.TestCase):
    """/metrics with METRICS_TOKEN set: the documented 401."""

    @classmethod
    def setUpClass(cls):
        cls.spec = load_spec()
        # The token check happens before anything touches the database.
        cls.svc = Service("postgresql://nobody@127.0.0.1:1/none", METRICS_TOKEN="scrape-secret")
        cls.addClassCleanup(cls.svc.stop)
        cls.svc.start()

    def test_token_is_required_when_configured(self):
        for path, headers, want in (("/metrics", {}, 401),
                                    ("/metrics", {"Authorization": "Bearer wrong"}, 401),
                                    ("/metrics", {"Authorization": "Bearer scrape-secret"}, 200),
                                    ("/metrics?token=scrape-secret", {}, 200)):
            with self.subTest(path=path, headers=headers):
                status, response_headers, _ = self.call("get", "/metrics", path, headers=headers)
                self.assertEqual(status, want)
                if status == 401:
                    self.assertEqual(response_headers["www-authenticate"], 'Bearer realm="metrics"')


if __name__ == "__main__":
    unittest.main()
