#pragma once

#include <initializer_list>
#include <string>
#include <string_view>

struct evp_mac_ctx_st; // OpenSSL's EVP_MAC_CTX, kept out of this header

namespace clean::persistence {

/// Lower-case hex SHA-256 of `data`.
std::string sha256_hex(std::string_view data);

/// HMAC-SHA256 of `data` under `key`, lower-case hex (webhook signatures).
std::string hmac_sha256_hex(std::string_view key, std::string_view data);

/// HMAC-SHA256 under one key, for a key that signs many messages (a webhook
/// secret): the key is fetched and hashed into the inner and outer pads
/// once, and each message then costs only its own hashing (about a fifth
/// of setting the key up again, which is what `hmac_sha256_hex` does). Not
/// thread-safe: one per thread.
class hmac_sha256_signer {
public:
  explicit hmac_sha256_signer(std::string_view key);
  ~hmac_sha256_signer();
  hmac_sha256_signer(hmac_sha256_signer&& other) noexcept;
  hmac_sha256_signer& operator=(hmac_sha256_signer&& other) noexcept;
  hmac_sha256_signer(const hmac_sha256_signer&) = delete;
  hmac_sha256_signer& operator=(const hmac_sha256_signer&) = delete;

  /// Lower-case hex MAC of the concatenation of `parts`.
  std::string hex(std::initializer_list<std::string_view> parts);

private:
  evp_mac_ctx_st* ctx_;
};

/// `bytes` bytes from OpenSSL's CSPRNG, base64url without padding.
std::string random_token(size_t bytes);

/// base64url without padding, and back (nullopt-like empty + false on bad input).
std::string base64url_encode(std::string_view data);
bool base64url_decode(std::string_view text, std::string& out);

} // namespace clean::persistence
