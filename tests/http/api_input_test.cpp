#define CAF_SUITE http.api_input
#include <caf/test/unit_test_impl.hpp>

#include "http/api_input.hpp"

using namespace clean::http;
using clean::persistence::resource;

namespace {

bool has_error(const std::vector<field_error>& errors, const std::string& field) {
  for (const auto& e : errors)
    if (e.field == field)
      return true;
  return false;
}

} // namespace

CAF_TEST(a valid booking is parsed) {
  auto b = parse_booking(R"({"customer_id": 3, "scheduled_at": "2026-12-01T09:30:00+01:00",
      "duration_minutes": 90, "address": "Main St 1", "price_cents": 8000, "currency": "EUR"})");
  CAF_REQUIRE(b.value);
  CAF_CHECK_EQUAL(b.value->customer_id, 3);
  CAF_CHECK_EQUAL(b.value->duration_minutes, 90);
  CAF_CHECK_EQUAL(b.value->currency, "EUR");
  CAF_CHECK(b.errors.empty());
}

CAF_TEST(every bad field is reported at once) {
  auto b = parse_booking(R"({"customer_id": "3", "scheduled_at": "tomorrow", "duration_minutes": 0,
      "price_cents": -1, "currency": "Eu"})");
  CAF_CHECK(!b.value);
  for (auto f : {"customer_id", "scheduled_at", "duration_minutes", "address", "price_cents", "currency"})
    CAF_CHECK_EQUAL(std::string{f} + (has_error(b.errors, f) ? "" : " not reported"), std::string{f});
}

CAF_TEST(floats and huge numbers are not integers) {
  auto i = parse_invoice(R"({"booking_id": 1.5, "amount_cents": 18446744073709551615, "currency": "usd",
      "due_at": "2026-12-01T00:00:00Z"})");
  CAF_CHECK(has_error(i.errors, "booking_id"));
  CAF_CHECK(has_error(i.errors, "amount_cents"));
  CAF_CHECK(!has_error(i.errors, "currency"));
}

CAF_TEST(non objects and broken json are malformed not invalid) {
  CAF_CHECK(!parse_customer("[1,2]").malformed.empty());
  CAF_CHECK(!parse_customer("{\"name\":").malformed.empty());
  CAF_CHECK(!parse_customer("").malformed.empty());
}

CAF_TEST(customers need a plausible email and phone) {
  CAF_CHECK(has_error(parse_customer(R"({"name": "A", "email": "no-at-sign"})").errors, "email"));
  CAF_CHECK(
      has_error(parse_customer(R"({"name": "A", "email": "a@b.c", "phone": "call me"})").errors, "phone"));
  auto ok = parse_customer(R"({"name": "A", "email": "a@b.c", "phone": null})");
  CAF_REQUIRE(ok.value);
  CAF_CHECK(!ok.value->phone);
}

CAF_TEST(nps scores are 0 to 10) {
  CAF_CHECK(parse_nps_answer(R"({"score": 0})", "t").value);
  CAF_CHECK(parse_nps_answer(R"({"score": 10, "comment": "great"})", "t").value);
  CAF_CHECK(has_error(parse_nps_answer(R"({"score": 11})", "t").errors, "score"));
}

CAF_TEST(list queries parse filters and reject bad ones) {
  auto q = parse_list_query(resource::bookings,
                            "limit=5&status=scheduled,completed&from=2026-01-01T00:00:00Z&customer_id=9");
  CAF_REQUIRE(q.value);
  CAF_CHECK_EQUAL(q.value->limit, 5);
  CAF_CHECK_EQUAL(q.value->statuses.size(), 2u);
  CAF_CHECK_EQUAL(*q.value->parent_id, 9);
  // An unencoded '+' in an offset arrives as a space; it is understood.
  CAF_CHECK(parse_list_query(resource::bookings, "from=2026-01-01T00:00:00+01:00").value);
  auto bad =
      parse_list_query(resource::invoices, "limit=101&status=scheduled&cursor=zz&from=x&booking_id=-1");
  for (auto f : {"limit", "status", "cursor", "from", "booking_id"})
    CAF_CHECK_EQUAL(std::string{f} + (has_error(bad.errors, f) ? "" : " not reported"), std::string{f});
  auto backwards = parse_list_query(resource::customers, "from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z");
  CAF_CHECK(has_error(backwards.errors, "to"));
}

CAF_TEST(ids and idempotency keys) {
  auto id = parse_id("42");
  CAF_REQUIRE(id);
  CAF_CHECK_EQUAL(*id, 42);
  CAF_CHECK(!parse_id("0"));
  CAF_CHECK(!parse_id("-1"));
  CAF_CHECK(!parse_id("4x"));
  CAF_CHECK(!parse_id("99999999999999999999"));
  CAF_CHECK(valid_idempotency_key("order-7f3a"));
  CAF_CHECK(!valid_idempotency_key(""));
  CAF_CHECK(!valid_idempotency_key("has space"));
  CAF_CHECK(!valid_idempotency_key(std::string(256, 'k')));
}

CAF_TEST(break glass requests need a reason and a positive ttl) {
  auto ok = parse_break_glass_request(R"({"reason":"INC-42 payments stuck","ttl_minutes":30})");
  CAF_REQUIRE(ok.value);
  CAF_CHECK_EQUAL(ok.value->reason, "INC-42 payments stuck");
  CAF_REQUIRE(ok.value->ttl_minutes);
  CAF_CHECK_EQUAL(*ok.value->ttl_minutes, 30);
  auto no_ttl = parse_break_glass_request(R"({"reason":"x"})");
  CAF_REQUIRE(no_ttl.value);
  CAF_CHECK(!no_ttl.value->ttl_minutes);
  CAF_CHECK(has_error(parse_break_glass_request("{}").errors, "reason"));
  CAF_CHECK(has_error(parse_break_glass_request(R"({"reason":"   "})").errors, "reason"));
  CAF_CHECK(has_error(parse_break_glass_request(R"({"reason":")" + std::string(501, 'r') + "\"}").errors,
                      "reason"));
  CAF_CHECK(has_error(parse_break_glass_request(R"({"reason":"x","ttl_minutes":0})").errors, "ttl_minutes"));
  CAF_CHECK(
      has_error(parse_break_glass_request(R"({"reason":"x","ttl_minutes":1.5})").errors, "ttl_minutes"));
  CAF_CHECK(
      has_error(parse_break_glass_request(R"({"reason":"x","ttl_minutes":"60"})").errors, "ttl_minutes"));
  CAF_CHECK(!parse_break_glass_request("[1]").malformed.empty());
}

CAF_TEST(audit queries take a limit and a cursor) {
  auto q = parse_audit_query("limit=7");
  CAF_REQUIRE(q.value);
  CAF_CHECK_EQUAL(q.value->limit, 7);
  CAF_CHECK(!q.value->after);
  auto d = parse_audit_query("");
  CAF_REQUIRE(d.value);
  CAF_CHECK_EQUAL(d.value->limit, 50);
  CAF_CHECK(has_error(parse_audit_query("limit=201").errors, "limit"));
  CAF_CHECK(has_error(parse_audit_query("limit=0").errors, "limit"));
  CAF_CHECK(has_error(parse_audit_query("cursor=nope").errors, "cursor"));
  auto cursor = clean::persistence::encode_cursor({1700000000000000, 12});
  auto with_cursor = parse_audit_query("cursor=" + cursor);
  CAF_REQUIRE(with_cursor.value);
  CAF_REQUIRE(with_cursor.value->after);
  CAF_CHECK_EQUAL(with_cursor.value->after->id, 12);
}
