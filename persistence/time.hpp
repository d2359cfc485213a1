#pragma once

// RFC 3339 timestamps <-> microseconds since the Unix epoch (UTC).
// Pure functions: the HTTP layer validates input with them and the
// repositories render responses with them.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace clean::persistence {

/// Accepts `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` (RFC 3339 section 5.6;
/// `t`/`z` and a space separator too). Fractions beyond microseconds are
/// truncated. nullopt when malformed or outside years 1..9999.
std::optional<int64_t> parse_rfc3339(std::string_view text);

/// `2026-11-25T10:00:00Z`, with `.mmm` or `.uuuuuu` only when needed.
std::string format_rfc3339(int64_t micros);

/// Bounds the API accepts, in the range PostgreSQL and the parser share.
inline constexpr int64_t min_micros = -62135596800LL * 1000000; // 0001-01-01T00:00:00Z
inline constexpr int64_t max_micros = 253402300799LL * 1000000; // 9999-12-31T23:59:59Z

} // namespace clean::persistence
