#define CAF_SUITE http.health_report
#include <caf/test/unit_test_impl.hpp>

#include "http/health_report.hpp"
#include "http/request_id.hpp"

#include <nlohmann/json.hpp>

using namespace clean;
using namespace clean::http;

namespace {

readiness_report healthy() {
  readiness_report r;
  r.database.ok = true;
  r.database.latency_ms = 1.5;
  r.database.schema_version = 3;
  r.migrations_head = 3;
  return r;
}

} // namespace

CAF_TEST(all checks pass) {
  auto r = healthy();
  auto checks = readiness_checks(r, {});
  CAF_CHECK(all_ok(checks));
  auto body = nlohmann::json::parse(readiness_json(r, checks));
  CAF_CHECK_EQUAL(body["status"], "ok");
  CAF_CHECK_EQUAL(body["database"]["ok"], true);
  CAF_CHECK_EQUAL(body["migrations"]["ok"], true);
  CAF_CHECK_EQUAL(body["migrations"]["current"], 3);
  CAF_CHECK_EQUAL(body["migrations"]["head"], 3);
  CAF_CHECK_EQUAL(body["jobs"]["ok"], true);
  CAF_CHECK_EQUAL(body["jobs"]["checked"], false);
}

CAF_TEST(schema behind head fails migrations only) {
  auto r = healthy();
  r.database.schema_version = 2;
  auto checks = readiness_checks(r, {});
  CAF_CHECK(!all_ok(checks));
  auto body = nlohmann::json::parse(readiness_json(r, checks));
  CAF_CHECK_EQUAL(body["status"], "fail");
  CAF_CHECK_EQUAL(body["database"]["ok"], true);
  CAF_CHECK_EQUAL(body["migrations"]["ok"], false);
  CAF_CHECK_EQUAL(body["migrations"]["current"], 2);
}

CAF_TEST(database down fails database and migrations) {
  readiness_report r;
  r.migrations_head = 3;
  r.database.error = "connection refused";
  auto checks = readiness_checks(r, {});
  auto body = nlohmann::json::parse(readiness_json(r, checks));
  CAF_CHECK_EQUAL(body["status"], "fail");
  CAF_CHECK_EQUAL(body["database"]["ok"], false);
  CAF_CHECK_EQUAL(body["database"]["error"], "connection refused");
  CAF_CHECK_EQUAL(body["migrations"]["ok"], false);
  CAF_CHECK(body["migrations"]["current"].is_null());
}

CAF_TEST(excluded checks do not fail readiness) {
  readiness_report r;
  r.migrations_head = 1;
  r.database.error = "down";
  auto checks = readiness_checks(r, {"database", "migrations"});
  CAF_CHECK(all_ok(checks));
  auto body = nlohmann::json::parse(readiness_json(r, checks));
  CAF_CHECK_EQUAL(body["status"], "ok");
  CAF_CHECK_EQUAL(body["database"]["excluded"], true);
  CAF_CHECK_EQUAL(body["database"]["ok"], false);
}

CAF_TEST(shutting down is not ready) {
  auto r = healthy();
  r.shutting_down = true;
  auto checks = readiness_checks(r, {});
  CAF_CHECK(!all_ok(checks));
  auto text = verbose_text("readyz", checks);
  CAF_CHECK(text.find("[-]shutdown failed") != std::string::npos);
  CAF_CHECK(text.find("readyz check failed") != std::string::npos);
}

CAF_TEST(verbose text lists every check) {
  auto text = verbose_text("readyz", readiness_checks(healthy(), {"jobs"}));
  CAF_CHECK(text.find("[+]database ok") != std::string::npos);
  CAF_CHECK(text.find("[+]migrations ok") != std::string::npos);
  CAF_CHECK(text.find("[+]jobs excluded") != std::string::npos);
  CAF_CHECK(text.find("readyz check passed") != std::string::npos);
}

CAF_TEST(exclude parameters) {
  auto names = excluded_checks("exclude=database,jobs&exclude=migrations&verbose");
  CAF_REQUIRE_EQUAL(names.size(), 3u);
  CAF_CHECK_EQUAL(names[0], "database");
  CAF_CHECK_EQUAL(names[1], "jobs");
  CAF_CHECK_EQUAL(names[2], "migrations");
}

CAF_TEST(request ids) {
  CAF_CHECK(acceptable_request_id("abc-123_x.y:z"));
  CAF_CHECK(!acceptable_request_id(""));
  CAF_CHECK(!acceptable_request_id("has space"));
  CAF_CHECK(!acceptable_request_id("inject\r\nheader"));
  CAF_CHECK(!acceptable_request_id(std::string(129, 'a')));
  CAF_CHECK_EQUAL(request_id_for("client-id-1"), "client-id-1");
  auto a = request_id_for("bad id");
  auto b = generate_request_id();
  CAF_CHECK_EQUAL(a.size(), 32u);
  CAF_CHECK(acceptable_request_id(a));
  CAF_CHECK_NOT_EQUAL(a, b);
}
