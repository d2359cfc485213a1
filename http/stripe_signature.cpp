#include "http/stripe_signature.hpp"

#include "persistence/digest.hpp"

#include <openssl/crypto.h>

#include <cctype>
#include <charconv>

namespace clean::http {

namespace {

bool is_hex(std::string_view s) {
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
      return false;
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

bool same(std::string_view a, std::string_view b) {
  // Lengths are public (a SHA-256 hex is always 64 characters); the bytes
  // are compared without an early exit.
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

} // namespace

std::optional<stripe_signature_header> parse_stripe_signature(std::string_view header) {
  constexpr size_t max_parts = 32; // a header is a handful of parts; more is hostile
  stripe_signature_header out;
  bool have_t = false;
  size_t parts = 0;
  while (!header.empty()) {
    if (++parts > max_parts)
      return std::nullopt;
    auto comma = header.find(',');
    auto part = trim(header.substr(0, comma));
    header = comma == std::string_view::npos ? std::string_view{} : header.substr(comma + 1);
    auto eq = part.find('=');
    if (eq == std::string_view::npos)
      continue; // unknown shapes are ignored, as Stripe's libraries do
    auto key = part.substr(0, eq);
    auto value = part.substr(eq + 1);
    if (key == "t") {
      int64_t t = 0;
      auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), t);
      if (ec != std::errc{} || ptr != value.data() + value.size() || t <= 0)
        return std::nullopt;
      out.timestamp = t;
      have_t = true;
    } else if (key == "v1" && value.size() == 64 && is_hex(value)) {
      out.v1.emplace_back(value);
    }
  }
  if (!have_t || out.v1.empty())
    return std::nullopt;
  return out;
}

const char* to_string(signature_check c) {
  switch (c) {
    case signature_check::ok:
      return "ok";
    case signature_check::missing_header:
      return "missing_header";
    case signature_check::malformed_header:
      return "malformed_header";
    case signature_check::no_matching_signature:
      return "no_matching_signature";
    case signature_check::timestamp_out_of_tolerance:
      return "timestamp_out_of_tolerance";
  }
  return "unknown";
}

signature_check verify_stripe_signature(std::string_view header, std::string_view body,
                                        const std::vector<std::string>& secrets,
                                        std::chrono::seconds tolerance, int64_t now_unix) {
  std::vector<persistence::hmac_sha256_signer> signers;
  signers.reserve(secrets.size());
  for (const auto& secret : secrets)
    signers.emplace_back(secret);
  return verify_stripe_signature(header, body, signers, tolerance, now_unix);
}

signature_check verify_stripe_signature(std::string_view header, std::string_view body,
                                        std::vector<persistence::hmac_sha256_signer>& signers,
                                        std::chrono::seconds tolerance, int64_t now_unix) {
  if (trim(header).empty())
    return signature_check::missing_header;
  auto parsed = parse_stripe_signature(header);
  if (!parsed)
    return signature_check::malformed_header;
  auto stamp = std::to_string(parsed->timestamp);
  for (auto& v1 : parsed->v1)
    for (auto& c : v1)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  bool matched = false;
  for (auto& signer : signers) {
    auto expected = signer.hex({stamp, ".", body});
    for (const auto& v1 : parsed->v1)
      matched |= same(expected, v1); // every pair is compared: no early exit
  }
  if (!matched)
    return signature_check::no_matching_signature;
  // Checked after the signature, so the timestamp is known to be Stripe's.
  auto skew = now_unix - parsed->timestamp;
  if (skew > tolerance.count() || -skew > tolerance.count())
    return signature_check::timestamp_out_of_tolerance;
  return signature_check::ok;
}

} // namespace clean::http
