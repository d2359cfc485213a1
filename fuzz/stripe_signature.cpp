// Stripe-Signature parsing and verification: the header and body are
// attacker-controlled until the HMAC matches.
#include "http/stripe_signature.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in{reinterpret_cast<const char*>(data), size};
  // "<header>\n<body>": the fuzzer finds the separator itself.
  auto cut = in.find('\n');
  auto header = in.substr(0, cut);
  auto body = cut == std::string_view::npos ? std::string_view{} : in.substr(cut + 1);
  static const std::vector<std::string> secrets{"whsec_fuzz_one", "whsec_fuzz_two"};
  clean::http::parse_stripe_signature(header);
  auto verdict =
      clean::http::verify_stripe_signature(header, body, secrets, std::chrono::seconds{300}, 1700000000);
  (void)clean::http::to_string(verdict);
  return 0;
}
