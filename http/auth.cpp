#include "http/auth.hpp"

#include <openssl/crypto.h>

#include <algorithm>
#include <cctype>

namespace clean::http {

bool constant_time_equals(std::string_view a, std::string_view b) {
  if (a.size() != b.size())
    return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string_view bearer_token(std::string_view authorization) {
  constexpr std::string_view scheme = "bearer";
  if (authorization.size() <= scheme.size() || authorization[scheme.size()] != ' ')
    return {};
  for (size_t i = 0; i < scheme.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(authorization[i])) != scheme[i])
      return {};
  auto token = authorization.substr(scheme.size() + 1);
  while (!token.empty() && token.front() == ' ')
    token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ')
    token.remove_suffix(1);
  return token;
}

access_decision metrics_access_policy::check(std::string_view authorization,
                                             const std::vector<std::string>& query_tokens) const {
  if (tokens.empty())
    return production ? access_decision::not_configured : access_decision::granted;

  std::vector<std::string_view> offered;
  if (auto t = bearer_token(authorization); !t.empty())
    offered.push_back(t);
  for (auto& q : query_tokens)
    if (!q.empty())
      offered.push_back(q);
  if (offered.empty())
    return access_decision::missing_token;

  bool match = false;
  for (auto candidate : offered)
    for (auto& expected : tokens)
      match |= constant_time_equals(candidate, expected);
  return match ? access_decision::granted : access_decision::wrong_token;
}

std::string_view to_string(access_decision d) {
  switch (d) {
    case access_decision::granted:
      return "granted";
    case access_decision::missing_token:
      return "missing_token";
    case access_decision::wrong_token:
      return "wrong_token";
    case access_decision::not_configured:
      return "not_configured";
  }
  return "unknown";
}

} // namespace clean::http
