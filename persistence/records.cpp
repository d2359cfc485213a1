#include "persistence/records.hpp"

#include "persistence/digest.hpp"

#include <charconv>

namespace clean::persistence {

std::string encode_cursor(const page_cursor& c) {
  return base64url_encode(std::to_string(c.time) + "." + std::to_string(c.id));
}

std::optional<page_cursor> decode_cursor(const std::string& text) {
  std::string raw;
  if (text.empty() || text.size() > 64 || !base64url_decode(text, raw))
    return std::nullopt;
  auto dot = raw.find('.');
  if (dot == std::string::npos)
    return std::nullopt;
  page_cursor c;
  auto* first = raw.data();
  auto t = std::from_chars(first, first + dot, c.time);
  auto i = std::from_chars(first + dot + 1, first + raw.size(), c.id);
  if (t.ec != std::errc{} || t.ptr != first + dot || i.ec != std::errc{} || i.ptr != first + raw.size())
    return std::nullopt;
  // Only cursors this service could have issued: a forged time outside
  // 1970..9999 would otherwise reach PostgreSQL as an out-of-range timestamp.
  constexpr int64_t year_10000_micros = 253402300800LL * 1000000;
  if (c.time < 0 || c.time >= year_10000_micros || c.id <= 0)
    return std::nullopt;
  return c;
}

} // namespace clean::persistence
