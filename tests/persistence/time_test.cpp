#define CAF_SUITE persistence.time
#include <caf/test/unit_test_impl.hpp>

#include "persistence/records.hpp"
#include "persistence/time.hpp"

using namespace clean::persistence;

CAF_TEST(parses utc and offsets to the same instant) {
  auto utc = parse_rfc3339("2026-12-01T08:30:00Z");
  auto cet = parse_rfc3339("2026-12-01T09:30:00+01:00");
  auto west = parse_rfc3339("2026-12-01T03:30:00-05:00");
  CAF_REQUIRE(utc && cet && west);
  CAF_CHECK_EQUAL(*utc, *cet);
  CAF_CHECK_EQUAL(*utc, *west);
  CAF_CHECK_EQUAL(*utc, 1796113800LL * 1000000);
}

CAF_TEST(fractions are kept to the microsecond and formatted minimally) {
  CAF_CHECK_EQUAL(format_rfc3339(*parse_rfc3339("2026-12-01T08:30:00.5Z")), "2026-12-01T08:30:00.500Z");
  CAF_CHECK_EQUAL(format_rfc3339(*parse_rfc3339("2026-12-01T08:30:00.123456789Z")),
                  "2026-12-01T08:30:00.123456Z");
  CAF_CHECK_EQUAL(format_rfc3339(*parse_rfc3339("2026-12-01t08:30:00z")), "2026-12-01T08:30:00Z");
  CAF_CHECK_EQUAL(format_rfc3339(0), "1970-01-01T00:00:00Z");
  CAF_CHECK_EQUAL(format_rfc3339(-1), "1969-12-31T23:59:59.999999Z");
}

CAF_TEST(round trips across the supported range) {
  for (auto text :
       {"0001-01-01T00:00:00Z", "1999-12-31T23:59:59Z", "2024-02-29T12:00:00Z", "9999-12-31T23:59:59Z"})
    CAF_CHECK_EQUAL(format_rfc3339(*parse_rfc3339(text)), text);
}

CAF_TEST(rejects malformed and impossible times) {
  for (auto bad :
       {"", "2026-12-01", "2026-12-01T08:30:00", "2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z",
        "2025-02-29T00:00:00Z", "2026-12-01T24:00:00Z", "2026-12-01T08:30Z", "2026-12-01T08:30:00+0100",
        "2026-12-01T08:30:00Zjunk", "2026-12-01T08:30:00.Z", "0000-01-01T00:00:00Z"})
    CAF_CHECK_EQUAL(std::string{bad} + (parse_rfc3339(bad) ? " was accepted" : ""), std::string{bad});
}

CAF_TEST(cursors round trip and reject tampering) {
  page_cursor c{1796113800123456, 42};
  auto text = encode_cursor(c);
  auto back = decode_cursor(text);
  CAF_REQUIRE(back);
  CAF_CHECK_EQUAL(back->time, c.time);
  CAF_CHECK_EQUAL(back->id, 42);
  CAF_CHECK(!decode_cursor(""));
  CAF_CHECK(!decode_cursor("not a cursor!"));
  CAF_CHECK(!decode_cursor("MTIz")); // "123": no separator
  CAF_CHECK(!decode_cursor(text + "AAAA"));
  // Well-formed but outside what PostgreSQL's timestamps hold, or no id.
  CAF_CHECK(!decode_cursor(encode_cursor({INT64_MAX, 1})));
  CAF_CHECK(!decode_cursor(encode_cursor({-1, 1})));
  CAF_CHECK(!decode_cursor(encode_cursor({c.time, 0})));
}
