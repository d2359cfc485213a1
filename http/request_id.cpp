#include "http/request_id.hpp"

#include <openssl/rand.h>

#include <array>
#include <cstdint>
#include <random>

namespace clean::http {

bool acceptable_request_id(std::string_view id) {
  if (id.empty() || id.size() > 128)
    return false;
  for (unsigned char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
              c == '_' || c == '.' || c == ':';
    if (!ok)
      return false;
  }
  return true;
}

namespace {

// Request ids must be unique, not secret: a per-thread generator seeded from
// OpenSSL avoids a syscall per request.
std::mt19937_64& thread_generator() {
  thread_local std::mt19937_64 gen = [] {
    std::array<uint64_t, 4> seed{};
    if (RAND_bytes(reinterpret_cast<unsigned char*>(seed.data()), sizeof(seed)) != 1)
      seed[0] = std::random_device{}();
    std::seed_seq seq(seed.begin(), seed.end());
    return std::mt19937_64{seq};
  }();
  return gen;
}

} // namespace

std::string generate_request_id() {
  static constexpr char hex[] = "0123456789abcdef";
  auto& gen = thread_generator();
  std::string out(32, '0');
  for (int half = 0; half < 2; ++half) {
    uint64_t bits = gen();
    for (int i = 0; i < 16; ++i) {
      out[half * 16 + i] = hex[bits & 0xf];
      bits >>= 4;
    }
  }
  return out;
}

std::string request_id_for(std::string_view incoming) {
  return acceptable_request_id(incoming) ? std::string{incoming} : generate_request_id();
}

} // namespace clean::http
