// Request bodies and query strings, as the API routes validate them. The
// first byte picks the parser; the rest is the input.
#include "http/api_input.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace {

template <class V>
void check(const V& v) {
  // Exactly one outcome: a value, a malformed-JSON message or field errors.
  bool has_value = v.value.has_value();
  if (has_value && (!v.errors.empty() || !v.malformed.empty()))
    __builtin_trap();
  if (!has_value && v.errors.empty() && v.malformed.empty())
    __builtin_trap();
  if (!v.errors.empty())
    (void)clean::http::validation_error_body(v.errors);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0)
    return 0;
  using namespace clean::http;
  using clean::persistence::resource;
  std::string_view in{reinterpret_cast<const char*>(data) + 1, size - 1};
  switch (data[0] % 12) {
    case 0:
      check(parse_customer(in));
      break;
    case 1:
      check(parse_booking(in));
      break;
    case 2:
      check(parse_invoice(in));
      break;
    case 3:
      check(parse_nps_answer(in, "token"));
      break;
    case 4:
      check(parse_list_query(resource::customers, in));
      break;
    case 5:
      check(parse_list_query(resource::bookings, in));
      break;
    case 6:
      check(parse_list_query(resource::invoices, in));
      break;
    case 7:
      check(parse_break_glass_request(in));
      break;
    case 8:
      check(parse_audit_query(in));
      break;
    case 9:
      check(parse_dead_letter_query(in));
      break;
    case 10:
      check(parse_stripe_event_query(in));
      break;
    default:
      (void)parse_id(in);
      (void)valid_idempotency_key(in);
      check(parse_dead_letter_bulk(in));
  }
  return 0;
}
