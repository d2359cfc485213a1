#define CAF_SUITE http.router
#include <caf/test/unit_test_impl.hpp>

#include "http/router.hpp"

using namespace clean::http;

namespace {

struct fixture {
  router<int> r;
  fixture() {
    r.add(method_kind::get, "/healthz", 1);
    r.add(method_kind::get, "/v1/bookings/{id}", 2);
    r.add(method_kind::put, "/v1/bookings/{id}", 3);
    r.add(method_kind::post, "/v1/bookings", 4);
    r.add(method_kind::post, "/v1/admin/supervisor/{path...}/crash", 5);
    r.add(method_kind::get, "/v1/customers/{customer}/invoices/{invoice}", 6);
    r.add(method_kind::get, "/files/{rest...}", 7);
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(router_tests, fixture)

CAF_TEST(literal routes) {
  auto m = r.find(method_kind::get, "/healthz");
  CAF_REQUIRE(m.what == router<int>::outcome::found);
  CAF_CHECK_EQUAL(*m.handler, 1);
  CAF_CHECK_EQUAL(m.matched->tmpl.pattern(), "/healthz");
  CAF_CHECK(r.find(method_kind::get, "/healthz/").what == router<int>::outcome::not_found);
  CAF_CHECK(r.find(method_kind::get, "/healthzz").what == router<int>::outcome::not_found);
  CAF_CHECK(r.find(method_kind::get, "/").what == router<int>::outcome::not_found);
}

CAF_TEST(single segment parameters are captured and decoded) {
  auto m = r.find(method_kind::get, "/v1/bookings/b%2012");
  CAF_REQUIRE(m.what == router<int>::outcome::found);
  CAF_CHECK_EQUAL(*m.handler, 2);
  CAF_CHECK_EQUAL(param(m.params, "id"), "b 12");
  CAF_CHECK_EQUAL(m.matched->tmpl.pattern(), "/v1/bookings/{id}");
  // A parameter never spans segments or matches empty.
  CAF_CHECK(r.find(method_kind::get, "/v1/bookings/a/b").what == router<int>::outcome::not_found);
  CAF_CHECK(r.find(method_kind::get, "/v1/bookings/").what == router<int>::outcome::not_found);
  m = r.find(method_kind::get, "/v1/customers/c1/invoices/i9");
  CAF_REQUIRE(m.what == router<int>::outcome::found);
  CAF_CHECK_EQUAL(param(m.params, "customer"), "c1");
  CAF_CHECK_EQUAL(param(m.params, "invoice"), "i9");
}

CAF_TEST(greedy parameters carry slashes) {
  auto m = r.find(method_kind::post, "/v1/admin/supervisor/root/http/session-3/crash");
  CAF_REQUIRE(m.what == router<int>::outcome::found);
  CAF_CHECK_EQUAL(*m.handler, 5);
  CAF_CHECK_EQUAL(param(m.params, "path"), "root/http/session-3");
  m = r.find(method_kind::post, "/v1/admin/supervisor/root/crash");
  CAF_REQUIRE(m.what == router<int>::outcome::found);
  CAF_CHECK_EQUAL(param(m.params, "path"), "root");
  // The greedy part needs at least one segment, and the suffix must follow.
  CAF_CHECK(r.find(method_kind::post, "/v1/admin/supervisor/crash").what == router<int>::outcome::not_found);
  CAF_CHECK(r.find(method_kind::post, "/v1/admin/supervisor/a//b/crash").what ==
            router<int>::outcome::not_found);
  CAF_CHECK(r.find(method_kind::post, "/v1/admin/supervisor/a/b").what == router<int>::outcome::not_found);
  m = r.find(method_kind::get, "/files/a/b/c.txt");
  CAF_REQUIRE(m.what == router<int>::outcome::found);
  CAF_CHECK_EQUAL(param(m.params, "rest"), "a/b/c.txt");
  CAF_CHECK(r.find(method_kind::get, "/files/a/").what == router<int>::outcome::not_found);
}

CAF_TEST(wrong method yields 405 with allow list) {
  auto m = r.find(method_kind::del, "/v1/bookings/7");
  CAF_CHECK(m.what == router<int>::outcome::method_not_allowed);
  CAF_CHECK_EQUAL(m.allow, "GET, HEAD, PUT");
  m = r.find(method_kind::post, "/healthz");
  CAF_CHECK(m.what == router<int>::outcome::method_not_allowed);
  CAF_CHECK_EQUAL(m.allow, "GET, HEAD");
}

CAF_TEST(head falls back to get) {
  auto m = r.find(method_kind::head, "/healthz");
  CAF_REQUIRE(m.what == router<int>::outcome::found);
  CAF_CHECK_EQUAL(*m.handler, 1);
  CAF_CHECK(r.find(method_kind::head, "/v1/bookings").what == router<int>::outcome::method_not_allowed);
}

CAF_TEST(bad escapes do not match) {
  CAF_CHECK(r.find(method_kind::get, "/v1/bookings/%zz").what == router<int>::outcome::not_found);
  CAF_CHECK(r.find(method_kind::get, "/v1/bookings/%4").what == router<int>::outcome::not_found);
}

CAF_TEST_FIXTURE_SCOPE_END()

CAF_TEST(invalid templates are rejected at start up) {
  for (auto bad : {"no-slash", "/a/{}", "/a/x{id}", "/a/{...}"}) {
    CAF_MESSAGE("template " << bad);
    bool threw = false;
    try {
      route_template t{bad};
    } catch (const std::invalid_argument&) {
      threw = true;
    }
    CAF_CHECK(threw);
  }
}

CAF_TEST(query parameters) {
  auto values = query_values("exclude=database&token=a%2Bb&exclude=jobs,x&verbose", "exclude");
  CAF_REQUIRE_EQUAL(values.size(), 2u);
  CAF_CHECK_EQUAL(values[0], "database");
  CAF_CHECK_EQUAL(values[1], "jobs,x");
  auto tokens = query_values("token=a%2Bb+c", "token");
  CAF_REQUIRE_EQUAL(tokens.size(), 1u);
  CAF_CHECK_EQUAL(tokens[0], "a+b c");
  CAF_CHECK(query_has("verbose", "verbose"));
  CAF_CHECK(query_has("a=1&verbose=1", "verbose"));
  CAF_CHECK(!query_has("verbosely=1", "verbose"));
  CAF_CHECK(query_values("", "token").empty());
}
