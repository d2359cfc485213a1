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

from harness import ADMIN_USER, SOURCE, Service, basic_auth, create_api_key, migrated_postgres

SPEC_FILE = os.path.join(SOURCE, "docs", "openapi.yaml")
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# Values for path parameters when probing routes: no record has the id or
# token; the actor and the job exist (the drills are refused without
# FAULT_INJECTION; a job run, pause and resume are harmless).
DUMMY_PARAMS = {"id": "999999", "event_id": "999999", "token": "x", "path": "root/db/probe", "name": "backup"}
# Documented response headers the service sends on every such response.
ALWAYS_SENT = {"x-request-id", "www-authenticate", "retry-after"}
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
# A registration: `routes.add(method_kind::get, "/x", ...)`, `routes.add(m::post,
# "/x", ...)`, or one behind the admin gate, `admin.add(routes, m::get, "/x",
# admin_access::read, ...)` (any `<name>.add(routes, ...)`; group 1 tells them apart).
ROUTE_ADD = re.compile(r'\b(?:routes\.add\(|(\w+)\.add\(\s*routes\s*,)'
                       r'\s*(?:method_kind|m)::(\w+)\s*,\s*"([^"]*)"(?:\s*,\s*admin_access::(\w+))?')
# Every call that may register a route, readable by ROUTE_ADD or not.
ADD_CALL = re.compile(r'\b(?:routes\.add\(|\w+\.add\(\s*routes\s*,)')
# admin_surface::add hands each gated route on with `routes.add(method,
# pattern, ...)`: not a registration of its own. Exactly this call is skipped.
FORWARDER = ("admin_surface.cpp", re.compile(r'\broutes\.add\(\s*method\s*,\s*pattern\s*,'))
# The security every admin operation declares.
ADMIN_SECURITY = [{"adminBasic": []}, {"breakGlassToken": []}]
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
        extra = schema.get("additionalProperties", False)
        for name, item in value.items():
            if name in props:
                problems += validate(spec, props[name], item, where + "." + name)
            elif isinstance(extra, dict):  # a map: every value follows one schema
                problems += validate(spec, extra, item, where + "." + name)
            elif extra is not True:
                problems.append("%s: field %r is not documented" % (where, name))
    return problems


def fill(template, params=DUMMY_PARAMS):
    return re.sub(r"\{(\w+)\}", lambda m: params[m.group(1)], template)


def registered_routes():
    """(method, template, admin access or None) of every route registered in
    http/*.cpp, with `{name...}` written `{name}` as OpenAPI has it; how many
    registering calls there are, to notice one ROUTE_ADD cannot read; and how
    many admin_surface forwarders were skipped."""
    routes = []
    calls = forwarders = 0
    for path in sorted(glob.glob(os.path.join(SOURCE, "http", "*.cpp"))):
        with open(path, encoding="utf-8") as f:
            text = f.read()
        calls += len(ADD_CALL.findall(text))
        if os.path.basename(path) == FORWARDER[0]:
            skipped = len(FORWARDER[1].findall(text))
            forwarders += skipped
            calls -= skipped
        for gate, method, template, access in ROUTE_ADD.findall(text):
            routes.append((SOURCE_METHODS.get(method, method), re.sub(r"\{(\w+)\.\.\.\}", r"{\1}", template),
                           (access or "unknown") if gate else None))
    return routes, calls, forwarders


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
                if path == "/v1/admin" or path.startswith("/v1/admin/"):
                    self.assertEqual(op.get("security"), ADMIN_SECURITY)
                    for status in ("401", "403", "429"):
                        self.assertIn(status, op["responses"])
                    self.assertIn("WWW-Authenticate", resolve(self.spec, op["responses"]["401"]).get("headers", {}))
                    self.assertIn("Retry-After", resolve(self.spec, op["responses"]["429"]).get("headers", {}))
                    continue
                if not path.startswith("/v1/"):
                    continue
                if path.startswith("/v1/webhooks/"):
                    # Stripe signs its deliveries and de-duplicates by event id.
                    self.assertEqual(op.get("security"), [])
                    self.assertIn(("header", "Stripe-Signature"), params)
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
        registered, calls, forwarders = registered_routes()
        routes = {(method, template) for method, template, _ in registered}
        documented = {(method, path) for path, method, _ in operations(self.spec)}
        for method, template in sorted(routes):
            with self.subTest(route=method.upper() + " " + template):
                if method == "head":  # answered by GET when both exist
                    self.assertTrue(("head", template) in documented or ("get", template) in documented)
                else:
                    self.assertIn((method, template), documented)
        self.assertEqual(len(registered), calls,
                         "a routes.add(...) or <surface>.add(routes, ...) call in http/*.cpp is not in the form "
                         "this test reads; extend ROUTE_ADD")
        self.assertEqual(forwarders, 1, "admin_surface::add no longer forwards with routes.add(method, pattern, "
                                        "...); update FORWARDER")
        self.assertGreaterEqual(len(routes), 24, "fewer routes than the service had when this test was written")
        # The other direction, statically (LiveTest probes the binary).
        self.assertEqual(documented - routes, set(), "documented but not registered in http/*.cpp")

    def test_admin_routes_are_registered_behind_the_gate(self):
        registered, _, _ = registered_routes()
        for method, template, access in registered:
            name = method.upper() + " " + template
            admin_path = template == "/v1/admin" or template.startswith("/v1/admin/")
            with self.subTest(route=name):
                # Registered straight on the route table, an admin route would skip authentication.
                self.assertEqual(access is not None, admin_path, "admin routes go through admin_surface::add")
                if access is None:
                    continue
                self.assertIn(access, ("read", "write", "break_glass"))
                op = self.spec["paths"][template][method]
                headers = {p["name"] for p in (resolve(self.spec, p) for p in op.get("parameters", []))
                           if p["in"] == "header"}
                if access == "write":
                    self.assertIn("X-Audit-Reason", headers, "admin writes are audited with X-Audit-Reason")
                    forbidden = resolve(self.spec, op["responses"]["403"])["description"]
                    self.assertIn("read_only_mode", forbidden)


class Conformance:
    """Sends requests and checks each answer against the document."""

    def call(self, method, template, path=None, body=None, headers=None, svc=None):
        """`path` (default: `template`) with a JSON body, to `svc` (default:
        the class's service); returns status, lower-cased headers and the
        parsed body."""
        path = path or template
        svc = svc or self.svc
        data = None if body is None else (body if isinstance(body, (str, bytes)) else json.dumps(body))
        headers = dict(headers or {})
        if data is not None:
            headers.setdefault("Content-Type", "application/json")
        status, raw_headers, raw = svc.request(method.upper(), path, body=data, headers=headers)
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
                if template == "/v1/admin" or template.startswith("/v1/admin/"):
                    # The harness sends the admin credentials: past the gate.
                    self.assertNotIn(status, (401, 429), answer)
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

    def admin_paths(self):
        return {(method, path) for path, method, _ in operations(self.spec)
                if path == "/v1/admin" or path.startswith("/v1/admin/")}

    def audit_entries(self, svc=None, pages=50):
        """The whole audit log, newest first, read one entry per page."""
        entries, cursor = [], ""
        for _ in range(pages):
            status, _, page = self.call("get", "/v1/admin/audit", "/v1/admin/audit?limit=1&cursor=" + cursor, svc=svc)
            self.assertEqual(status, 200)
            entries += page["data"]
            if page["next_cursor"] is None:
                return entries
            cursor = page["next_cursor"]
        self.fail("the audit log did not end within %d pages" % pages)

    def test_admin_answers_match_the_schemas(self):
        # The catalogue lists exactly the documented admin operations.
        status, _, catalogue = self.call("get", "/v1/admin")
        self.assertEqual(status, 200)
        listed = {(r["method"].lower(), re.sub(r"\{(\w+)\.\.\.\}", r"{\1}", r["path"])) for r in catalogue["routes"]}
        self.assertEqual(listed, self.admin_paths())
        self.assertFalse(catalogue["read_only"])
        self.assertEqual(catalogue["caller"], {"user": ADMIN_USER, "break_glass_session_id": None})

        # No credentials, another scheme, a wrong password, an unknown token alone.
        for headers in ({"Authorization": ""}, {"Authorization": "Bearer " + self.key},
                        {"Authorization": basic_auth(password="wrong")}, {"X-Break-Glass-Token": "bg_nope"}):
            with self.subTest(headers=headers):
                status, response_headers, error = self.call("get", "/v1/admin/supervisor", headers=headers)
                self.assertEqual((status, error["error"]["code"]), (401, "unauthorized"))
                self.assertEqual(response_headers["www-authenticate"], 'Basic realm="clean-service admin", charset="UTF-8"')

        # Starting a break-glass session.
        start = "/v1/admin/break-glass/start"
        status, _, error = self.call("post", start, body="not json")
        self.assertEqual((status, error["error"]["code"]), (400, "invalid_json"))
        status, _, error = self.call("post", start, body={"reason": "   ", "ttl_minutes": 0})
        self.assertEqual((status, error["error"]["code"]), (422, "validation_failed"))
        self.assertEqual({f["field"] for f in error["error"]["fields"]}, {"reason", "ttl_minutes"})
        status, _, session = self.call("post", start, body={"reason": "openapi e2e", "ttl_minutes": 100000})
        self.assertEqual(status, 201)
        self.assertEqual((session["state"], session["started_by"], session["uses"]), ("active", ADMIN_USER, 0))
        self.assertEqual((session["ttl_minutes"], session["ttl_capped"]), (catalogue["break_glass_max_ttl_minutes"], True))
        token = session["token"]

        # The token alone authenticates (as the admin who started the session),
        # but cannot start another session.
        status, _, me = self.call("get", "/v1/admin", headers={"X-Break-Glass-Token": token})
        self.assertEqual((status, me["caller"]), (200, {"user": ADMIN_USER, "break_glass_session_id": session["id"]}))
        status, _, error = self.call("post", start, body={"reason": "again"}, headers={"X-Break-Glass-Token": token})
        self.assertEqual((status, error["error"]["code"]), (403, "basic_auth_required"))

        # A write with Basic credentials and the token (refused: no fault injection), and with an unknown token.
        crash, probe = "/v1/admin/supervisor/{path}/crash", "/v1/admin/supervisor/root/db/probe/crash"
        status, _, error = self.call("post", crash, probe, headers={
            "Authorization": basic_auth(), "X-Break-Glass-Token": token, "X-Audit-Reason": "openapi drill"})
        self.assertEqual((status, error["error"]["code"]), (403, "fault_injection_disabled"))
        status, _, error = self.call("post", crash, probe,
                                     headers={"Authorization": basic_auth(), "X-Break-Glass-Token": "bg_unknown"})
        self.assertEqual((status, error["error"]["code"]), (403, "break_glass_invalid"))

        # Listing and ending sessions.
        status, _, sessions = self.call("get", "/v1/admin/break-glass")
        self.assertEqual(status, 200)
        self.assertIn(session["id"], [s["id"] for s in sessions["data"]])
        self.assertGreaterEqual(sessions["active_count"], 1)
        end = "/v1/admin/break-glass/{id}/end"
        status, _, ended = self.call("post", end, "/v1/admin/break-glass/%d/end" % session["id"])
        self.assertEqual((status, ended["state"], ended["ended_by"]), (200, "ended", ADMIN_USER))
        self.assertGreaterEqual(ended["uses"], 3)
        status, _, error = self.call("post", end, "/v1/admin/break-glass/%d/end" % session["id"])
        self.assertEqual((status, error["error"]["code"]), (409, "break_glass_not_active"))
        status, _, error = self.call("post", end, "/v1/admin/break-glass/999999/end")
        self.assertEqual((status, error["error"]["code"]), (404, "not_found"))
        status, _, error = self.call("get", "/v1/admin", headers={"X-Break-Glass-Token": token})
        self.assertEqual((status, error["error"]["code"]), (403, "break_glass_ended"))
        status, _, sessions = self.call("get", "/v1/admin/break-glass")
        self.assertNotIn(session["id"], [s["id"] for s in sessions["data"]])
        status, _, sessions = self.call("get", "/v1/admin/break-glass", "/v1/admin/break-glass?all=true")
        self.assertIn((session["id"], "ended"), [(s["id"], s["state"]) for s in sessions["data"]])

        # The audit log, paged: the start, every use of the token (reads
        # included, refusals included), the audited write, the end.
        entries = self.audit_entries()
        mine = [(e["action"], e["status"], e["outcome"], e["reason"]) for e in entries
                if e["break_glass_session_id"] == session["id"]]
        self.assertEqual(mine, [("break_glass.end", 200, "success", "openapi e2e"),
                                ("POST /v1/admin/supervisor/{path...}/crash", 403, "forbidden", "openapi drill"),
                                ("POST /v1/admin/break-glass/start", 403, "forbidden", "openapi e2e"),
                                ("GET /v1/admin", 200, "success", "openapi e2e"),
                                ("break_glass.start", 201, "success", "openapi e2e")])
        status, _, error = self.call("get", "/v1/admin/audit", "/v1/admin/audit?limit=201&cursor=bogus")
        self.assertEqual(status, 422)
        self.assertEqual({f["field"] for f in error["error"]["fields"]}, {"limit", "cursor"})

    def test_admin_modes_match_the_schemas(self):
        # Read-only mode, with a tight login throttle: a second service on the same database.
        svc = Service(self.pg.url, FAULT_INJECTION=0, ADMIN_READ_ONLY="true", ADMIN_AUTH_MAX_FAILURES=2)
        self.addCleanup(svc.stop)
        svc.start()
        status, _, catalogue = self.call("get", "/v1/admin", svc=svc)
        self.assertEqual((status, catalogue["read_only"]), (200, True))
        crash, probe = "/v1/admin/supervisor/{path}/crash", "/v1/admin/supervisor/root/db/probe/crash"
        status, _, error = self.call("post", crash, probe, headers={"Authorization": basic_auth(),
                                                                     "X-Audit-Reason": "read-only probe"}, svc=svc)
        self.assertEqual((status, error["error"]["code"]), (403, "read_only_mode"))
        status, _, session = self.call("post", "/v1/admin/break-glass/start", body={"reason": "read-only e2e"},
                                       svc=svc)
        self.assertEqual((status, session["ttl_capped"]), (201, False))
        status, _, error = self.call("post", crash, probe, headers={"X-Break-Glass-Token": session["token"]}, svc=svc)
        self.assertEqual((status, error["error"]["code"]), (403, "fault_injection_disabled"))
        entry = next(e for e in self.audit_entries(svc) if e["reason"] == "read-only probe")
        self.assertEqual((entry["status"], entry["outcome"], entry["target"]), (403, "read_only", "root/db/probe"))
        status, _, _ = self.call("post", "/v1/admin/break-glass/{id}/end",
                                 "/v1/admin/break-glass/%d/end" % session["id"], svc=svc)
        self.assertEqual(status, 200)
        # Two failed logins lock the address out, whatever it sends next.
        for _ in range(2):
            status, _, _ = self.call("get", "/v1/admin", headers={"Authorization": basic_auth(password="x")}, svc=svc)
            self.assertEqual(status, 401)
        status, headers, error = self.call("get", "/v1/admin", svc=svc)
        self.assertEqual((status, error["error"]["code"]), (429, "too_many_failed_logins"))
        self.assertGreater(int(headers["retry-after"]), 0)

        # Without admin credentials (development only) the admin API is off.
        off = Service(self.pg.url, ADMIN_BASIC_USERNAME="", ADMIN_BASIC_PASSWORD="")
        self.addCleanup(off.stop)
        off.start()
        for method, template in sorted(self.admin_paths()):
            with self.subTest(op=method.upper() + " " + template):
                status, _, error = self.call(method, template, fill(template),
                                             body="{}" if method == "post" else None, svc=off)
                self.assertEqual((status, error["error"]["code"]), (403, "admin_disabled"))


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
