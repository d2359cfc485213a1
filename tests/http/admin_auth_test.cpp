#define CAF_SUITE http.admin_auth
#include <caf/test/unit_test_impl.hpp>

#include "http/admin_auth.hpp"

using namespace clean::http;
using namespace std::chrono_literals;

namespace {
// base64("oncall:s3cret:with:colons") and friends, computed independently.
constexpr const char* oncall_header = "Basic b25jYWxsOnMzY3JldDp3aXRoOmNvbG9ucw==";
} // namespace

CAF_TEST(basic credentials are decoded and split at the first colon) {
  auto c = parse_basic(oncall_header);
  CAF_REQUIRE(c);
  CAF_CHECK_EQUAL(c->user, "oncall");
  CAF_CHECK_EQUAL(c->password, "s3cret:with:colons");
  // Scheme is case-insensitive; padding is optional.
  auto lower = parse_basic("basic b25jYWxsOnMzY3JldDp3aXRoOmNvbG9ucw");
  CAF_REQUIRE(lower);
  CAF_CHECK_EQUAL(lower->password, "s3cret:with:colons");
  // An empty password is still a (wrong) credential, not a parse error.
  auto empty = parse_basic("Basic dXNlcjo="); // "user:"
  CAF_REQUIRE(empty);
  CAF_CHECK_EQUAL(empty->user, "user");
  CAF_CHECK_EQUAL(empty->password, "");
}

CAF_TEST(malformed basic headers are refused) {
  CAF_CHECK(!parse_basic(""));
  CAF_CHECK(!parse_basic("Basic"));
  CAF_CHECK(!parse_basic("Basic "));
  CAF_CHECK(!parse_basic("Bearer b25jYWxsOnB3"));
  CAF_CHECK(!parse_basic("Basic !!!notbase64"));
  CAF_CHECK(!parse_basic("Basic dXNlcg==")); // "user": no colon
  CAF_CHECK(!parse_basic("Basic " + std::string(2000, 'A')));
}

CAF_TEST(credentials match only when both parts do) {
  admin_credentials expected{"oncall", "correct horse battery staple"};
  CAF_CHECK(expected.matches({"oncall", "correct horse battery staple"}));
  CAF_CHECK(!expected.matches({"oncall", "correct horse battery stapl"}));
  CAF_CHECK(!expected.matches({"oncal", "correct horse battery staple"}));
  CAF_CHECK(!expected.matches({"", ""}));
  CAF_CHECK(!expected.matches({"correct horse battery staple", "oncall"}));
}

CAF_TEST(an address is locked out after max failures and released after the lockout) {
  failure_throttle t{3, 60s};
  auto now = failure_throttle::clock::time_point{} + 1000s;
  CAF_CHECK_EQUAL(t.retry_after("10.0.0.1", now), 0);
  CAF_CHECK_EQUAL(t.failure("10.0.0.1", now), 0);
  CAF_CHECK_EQUAL(t.failure("10.0.0.1", now + 1s), 0);
  CAF_CHECK_EQUAL(t.failure("10.0.0.1", now + 2s), 60);
  CAF_CHECK_EQUAL(t.retry_after("10.0.0.1", now + 2s), 60);
  CAF_CHECK_EQUAL(t.retry_after("10.0.0.1", now + 31s), 31);
  // Other addresses are unaffected.
  CAF_CHECK_EQUAL(t.retry_after("10.0.0.2", now + 2s), 0);
  // After the lockout the address starts afresh.
  CAF_CHECK_EQUAL(t.retry_after("10.0.0.1", now + 62s), 0);
  CAF_CHECK_EQUAL(t.failure("10.0.0.1", now + 63s), 0);
}

CAF_TEST(old failures are forgotten and a success clears the record) {
  failure_throttle t{3, 60s};
  auto now = failure_throttle::clock::time_point{} + 1000s;
  t.failure("a", now);
  t.failure("a", now + 1s);
  // Two failures long ago do not add up with a new one.
  CAF_CHECK_EQUAL(t.failure("a", now + 120s), 0);
  CAF_CHECK_EQUAL(t.failure("a", now + 121s), 0);
  t.success("a");
  CAF_CHECK_EQUAL(t.tracked(), 0u);
  CAF_CHECK_EQUAL(t.failure("a", now + 122s), 0);
  CAF_CHECK_EQUAL(t.failure("a", now + 123s), 0);
  CAF_CHECK_EQUAL(t.failure("a", now + 124s), 60);
}
