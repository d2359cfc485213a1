#pragma once

// Stripe's webhook signature scheme, exactly as Stripe documents it:
//   Stripe-Signature: t=<unix time>,v1=<hex HMAC-SHA256>[,v1=…][,v0=…]
// where each v1 is HMAC-SHA256(endpoint secret, "<t>.<raw body>"). Any v1
// matching any configured secret (several during a rotation) is accepted;
// comparisons are constant-time; a timestamp further than the tolerance
// from now, in either direction, is refused. Pure: unit-tested and fuzzed.

#include "persistence/digest.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace clean::http {

struct stripe_signature_header {
  int64_t timestamp = 0;
  std::vector<std::string> v1; // lower-case hex, as sent
};

/// nullopt when the header has no usable `t=` or no `v1=`.
std::optional<stripe_signature_header> parse_stripe_signature(std::string_view header);

enum class signature_check {
  ok,
  missing_header,
  malformed_header,
  no_matching_signature,
  timestamp_out_of_tolerance
};

/// "ok", "missing_header", …: why a delivery was refused (logged, not sent).
const char* to_string(signature_check c);

signature_check verify_stripe_signature(std::string_view header, std::string_view body,
                                        const std::vector<std::string>& secrets,
                                        std::chrono::seconds tolerance, int64_t now_unix);

/// The same with one signer per secret, made once (an HTTP loop keeps its
/// own): what every delivery costs is then only the hashing of its body.
signature_check verify_stripe_signature(std::string_view header, std::string_view body,
                                        std::vector<persistence::hmac_sha256_signer>& signers,
                                        std::chrono::seconds tolerance, int64_t now_unix);

} // namespace clean::http
