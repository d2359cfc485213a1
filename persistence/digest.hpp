#pragma once

#include <string>
#include <string_view>

namespace clean::persistence {

/// Lower-case hex SHA-256 of `data`.
std::string sha256_hex(std::string_view data);

/// HMAC-SHA256 of `data` under `key`, lower-case hex (webhook signatures).
std::string hmac_sha256_hex(std::string_view key, std::string_view data);

/// `bytes` bytes from OpenSSL's CSPRNG, base64url without padding.
std::string random_token(size_t bytes);

/// base64url without padding, and back (nullopt-like empty + false on bad input).
std::string base64url_encode(std::string_view data);
bool base64url_decode(std::string_view text, std::string& out);

} // namespace clean::persistence
