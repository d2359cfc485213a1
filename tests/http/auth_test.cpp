#define CAF_SUITE http.auth
#include <caf/test/unit_test_impl.hpp>

#include "http/auth.hpp"

using namespace clean::http;

namespace {
const std::vector<std::string> none;
std::vector<std::string> q(std::string v) {
  return {std::move(v)};
}
} // namespace

CAF_TEST(constant time comparison) {
  CAF_CHECK(constant_time_equals("abc", "abc"));
  CAF_CHECK(!constant_time_equals("abc", "abd"));
  CAF_CHECK(!constant_time_equals("abc", "abcd"));
  CAF_CHECK(constant_time_equals("", ""));
}

CAF_TEST(bearer header parsing) {
  CAF_CHECK_EQUAL(bearer_token("Bearer t0k"), "t0k");
  CAF_CHECK_EQUAL(bearer_token("bearer   t0k  "), "t0k");
  CAF_CHECK_EQUAL(bearer_token("Basic dXNlcg=="), "");
  CAF_CHECK_EQUAL(bearer_token("Bearer"), "");
  CAF_CHECK_EQUAL(bearer_token(""), "");
}

CAF_TEST(production requires a configured token) {
  metrics_access_policy p{true, {}};
  CAF_CHECK(p.check("", none) == access_decision::not_configured);
  CAF_CHECK(p.check("Bearer anything", none) == access_decision::not_configured);
}

CAF_TEST(production with token) {
  metrics_access_policy p{true, {"s3cret"}};
  CAF_CHECK(p.check("", none) == access_decision::missing_token);
  CAF_CHECK(p.check("Bearer s3cret", none) == access_decision::granted);
  CAF_CHECK(p.check("", q("s3cret")) == access_decision::granted);
  CAF_CHECK(p.check("Bearer wrong", none) == access_decision::wrong_token);
  CAF_CHECK(p.check("", q("wrong")) == access_decision::wrong_token);
  CAF_CHECK(p.check("Bearer s3cre", none) == access_decision::wrong_token);
  CAF_CHECK(p.check("Basic s3cret", none) == access_decision::missing_token);
  // Either credential may carry the right token.
  CAF_CHECK(p.check("Bearer wrong", q("s3cret")) == access_decision::granted);
}

CAF_TEST(two tokens allow rotation) {
  metrics_access_policy p{true, {"new", "old"}};
  CAF_CHECK(p.check("Bearer new", none) == access_decision::granted);
  CAF_CHECK(p.check("Bearer old", none) == access_decision::granted);
  CAF_CHECK(p.check("Bearer new,old", none) == access_decision::wrong_token);
  CAF_CHECK(p.check("Bearer older", none) == access_decision::wrong_token);
}

CAF_TEST(development is open unless a token is set) {
  metrics_access_policy open{false, {}};
  CAF_CHECK(open.check("", none) == access_decision::granted);
  CAF_CHECK(open.check("Bearer whatever", none) == access_decision::granted);
  metrics_access_policy closed{false, {"dev"}};
  CAF_CHECK(closed.check("", none) == access_decision::missing_token);
  CAF_CHECK(closed.check("Bearer dev", none) == access_decision::granted);
  CAF_CHECK(closed.check("Bearer x", none) == access_decision::wrong_token);
}

CAF_TEST(reason labels) {
  CAF_CHECK_EQUAL(to_string(access_decision::missing_token), "missing_token");
  CAF_CHECK_EQUAL(to_string(access_decision::wrong_token), "wrong_token");
  CAF_CHECK_EQUAL(to_string(access_decision::not_configured), "not_configured");
}
