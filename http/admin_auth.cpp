#include "http/admin_auth.hpp"

#include "persistence/digest.hpp"

#include <openssl/crypto.h>

#include <array>
#include <cctype>

namespace clean::http {

namespace {

/// Standard base64 (RFC 4648 section 4) with optional padding.
bool base64_decode(std::string_view in, std::string& out) {
  static const auto table = [] {
    std::array<int8_t, 256> t{};
    t.fill(-1);
    constexpr std::string_view alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < alphabet.size(); ++i)
      t[static_cast<unsigned char>(alphabet[i])] = static_cast<int8_t>(i);
    return t;
  }();
  while (!in.empty() && in.back() == '=')
    in.remove_suffix(1);
  if (in.size() % 4 == 1)
    return false;
  out.clear();
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    auto v = table[static_cast<unsigned char>(c)];
    if (v < 0)
      return false;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return true;
}

bool digest_equal(const std::string& a, const std::string& b) {
  // Both are 64 hex characters: equal lengths by construction.
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

} // namespace

std::optional<basic_credentials> parse_basic(std::string_view authorization) {
  constexpr std::string_view scheme = "basic ";
  if (authorization.size() <= scheme.size())
    return std::nullopt;
  for (size_t i = 0; i < scheme.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(authorization[i])) != scheme[i])
      return std::nullopt;
  auto encoded = authorization.substr(scheme.size());
  while (!encoded.empty() && encoded.front() == ' ')
    encoded.remove_prefix(1);
  while (!encoded.empty() && encoded.back() == ' ')
    encoded.remove_suffix(1);
  if (encoded.empty() || encoded.size() > 1024)
    return std::nullopt;
  std::string decoded;
  if (!base64_decode(encoded, decoded))
    return std::nullopt;
  auto colon = decoded.find(':');
  if (colon == std::string::npos)
    return std::nullopt;
  return basic_credentials{decoded.substr(0, colon), decoded.substr(colon + 1)};
}

admin_credentials::admin_credentials(std::string_view user, std::string_view password) :
    user_digest_(persistence::sha256_hex(user)), password_digest_(persistence::sha256_hex(password)) {}

bool admin_credentials::matches(const basic_credentials& offered) const {
  bool user_ok = digest_equal(persistence::sha256_hex(offered.user), user_digest_);
  bool password_ok = digest_equal(persistence::sha256_hex(offered.password), password_digest_);
  return user_ok & password_ok; // no short circuit: both comparisons always run
}

failure_throttle::failure_throttle(int max_failures, std::chrono::seconds lockout) :
    max_failures_(max_failures), lockout_(lockout) {}

int failure_throttle::seconds_until(clock::time_point t, clock::time_point now) {
  if (t <= now)
    return 0;
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t - now).count();
  return static_cast<int>((ms + 999) / 1000);
}

int failure_throttle::retry_after(const std::string& address, clock::time_point now) {
  std::lock_guard<std::mutex> guard{mutex_};
  auto it = entries_.find(address);
  if (it == entries_.end())
    return 0;
  return seconds_until(it->second.locked_until, now);
}

int failure_throttle::failure(const std::string& address, clock::time_point now) {
  std::lock_guard<std::mutex> guard{mutex_};
  if (entries_.size() >= max_tracked)
    prune(now);
  auto& e = entries_[address];
  if (e.failures == 0 || now - e.first_failure > lockout_) {
    e.failures = 0;
    e.first_failure = now;
  }
  if (++e.failures >= max_failures_) {
    e.locked_until = now + lockout_;
    // The lockout is the penalty; counting starts afresh after it.
    e.failures = 0;
  }
  return seconds_until(e.locked_until, now);
}

void failure_throttle::success(const std::string& address) {
  std::lock_guard<std::mutex> guard{mutex_};
  entries_.erase(address);
}

size_t failure_throttle::tracked() const {
  std::lock_guard<std::mutex> guard{mutex_};
  return entries_.size();
}

void failure_throttle::prune(clock::time_point now) {
  for (auto it = entries_.begin(); it != entries_.end();) {
    bool stale = it->second.locked_until <= now && now - it->second.first_failure > lockout_;
    it = stale ? entries_.erase(it) : std::next(it);
  }
  // Still full (a flood from many addresses): forget the oldest counts
  // rather than grow without bound; lockouts in force are kept.
  if (entries_.size() >= max_tracked)
    for (auto it = entries_.begin(); it != entries_.end();)
      it = it->second.locked_until <= now ? entries_.erase(it) : std::next(it);
}

} // namespace clean::http
