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
  return c;
}

} // namespace clean::persistence
