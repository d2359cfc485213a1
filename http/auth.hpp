#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace clean::http {

/// Compares secrets in time independent of where they differ (lengths are
/// not secret: tokens have a fixed format).
bool constant_time_equals(std::string_view a, std::string_view b);

enum class access_decision {
  granted,
  missing_token, // 401
  wrong_token,   // 401
  not_configured // 500: production without METRICS_TOKEN
};

/// The runbook's /metrics rules. In production a token is always required;
/// in development only once METRICS_TOKEN is set. Every configured token is
/// compared (no early exit) so timing does not reveal which one matched.
struct metrics_access_policy {
  bool production = false;
  std::vector<std::string> tokens;

  /// `authorization` is the raw header (may be empty); `query_tokens` the
  /// values of `?token=`.
  access_decision check(std::string_view authorization, const std::vector<std::string>& query_tokens) const;
};

/// Reason label for metrics and logs ("missing_token", ...).
std::string_view to_string(access_decision d);

/// The credentials of an `Authorization: Bearer <token>` header, or empty.
std::string_view bearer_token(std::string_view authorization);

} // namespace clean::http
