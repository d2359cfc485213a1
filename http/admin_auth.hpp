#pragma once

// The pieces of admin authentication that need no network: HTTP Basic
// credentials and their constant-time check, and the per-address throttle
// on failed logins. Pure, so they are unit-tested directly.

#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace clean::http {

struct basic_credentials {
  std::string user;
  std::string password;
};

/// The credentials of an `Authorization: Basic <base64(user:password)>`
/// header; nullopt for any other scheme or a malformed value.
std::optional<basic_credentials> parse_basic(std::string_view authorization);

/// The configured admin credentials. `matches` compares SHA-256 digests of
/// both parts with CRYPTO_memcmp and evaluates both, so neither the length
/// nor the position of a difference, nor which part was wrong, shows in the
/// time it takes.
class admin_credentials {
public:
  admin_credentials(std::string_view user, std::string_view password);
  bool matches(const basic_credentials& offered) const;

private:
  std::string user_digest_;
  std::string password_digest_;
};

/// Locks out an address after `max_failures` failed logins within
/// `lockout`, for `lockout`. A success clears the address's record. Bounded
/// memory; thread-safe (every I/O thread shares one).
class failure_throttle {
public:
  using clock = std::chrono::steady_clock;

  failure_throttle(int max_failures, std::chrono::seconds lockout);

  /// Whole seconds until `address` may try again (0 = it may now).
  int retry_after(const std::string& address, clock::time_point now);
  /// Records a failure; returns retry_after() as it is after it.
  int failure(const std::string& address, clock::time_point now);
  void success(const std::string& address);

  /// Addresses tracked (for tests).
  size_t tracked() const;

private:
  struct entry {
    int failures = 0;
    clock::time_point first_failure;
    clock::time_point locked_until;
  };
  void prune(clock::time_point now);
  static int seconds_until(clock::time_point t, clock::time_point now);

  static constexpr size_t max_tracked = 100000;
  const int max_failures_;
  const std::chrono::seconds lockout_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, entry> entries_;
};

} // namespace clean::http
