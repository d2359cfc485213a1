#include "persistence/digest.hpp"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <stdexcept>
#include <utility>
#include <vector>

namespace clean::persistence {

namespace {
constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string hex_of(const unsigned char* md, unsigned len) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out(len * 2, '0');
  for (unsigned i = 0; i < len; ++i) {
    out[2 * i] = hex[md[i] >> 4];
    out[2 * i + 1] = hex[md[i] & 0xf];
  }
  return out;
}
} // namespace

std::string sha256_hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr) != 1)
    throw std::runtime_error("SHA-256 failed");
  return hex_of(md, len);
}

std::string hmac_sha256_hex(std::string_view key, std::string_view data) {
  return hmac_sha256_signer{key}.hex({data}); // one HMAC implementation, not two
}

hmac_sha256_signer::hmac_sha256_signer(std::string_view key) : ctx_(nullptr) {
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  if (mac == nullptr)
    throw std::runtime_error("OpenSSL has no HMAC");
  ctx_ = EVP_MAC_CTX_new(mac);
  EVP_MAC_free(mac); // the context holds its own reference
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                         OSSL_PARAM_construct_end()};
  if (ctx_ == nullptr ||
      EVP_MAC_init(ctx_, reinterpret_cast<const unsigned char*>(key.data()), key.size(), params) != 1) {
    EVP_MAC_CTX_free(ctx_);
    throw std::runtime_error("HMAC-SHA256 key setup failed");
  }
}

hmac_sha256_signer::~hmac_sha256_signer() {
  EVP_MAC_CTX_free(ctx_);
}

hmac_sha256_signer::hmac_sha256_signer(hmac_sha256_signer&& other) noexcept :
    ctx_(std::exchange(other.ctx_, nullptr)) {}

hmac_sha256_signer& hmac_sha256_signer::operator=(hmac_sha256_signer&& other) noexcept {
  std::swap(ctx_, other.ctx_);
  return *this;
}

std::string hmac_sha256_signer::hex(std::initializer_list<std::string_view> parts) {
  // A null key restarts the MAC from the pads computed for the key given
  // at construction (tests/persistence/digest_test.cpp holds OpenSSL to it).
  bool ok = ctx_ != nullptr && EVP_MAC_init(ctx_, nullptr, 0, nullptr) == 1;
  for (auto part : parts)
    ok = ok && EVP_MAC_update(ctx_, reinterpret_cast<const unsigned char*>(part.data()), part.size()) == 1;
  unsigned char md[EVP_MAX_MD_SIZE];
  size_t len = 0;
  if (!ok || EVP_MAC_final(ctx_, md, &len, sizeof md) != 1)
    throw std::runtime_error("HMAC-SHA256 failed");
  return hex_of(md, static_cast<unsigned>(len));
}

std::string random_token(size_t bytes) {
  std::vector<unsigned char> buf(bytes);
  if (RAND_bytes(buf.data(), static_cast<int>(buf.size())) != 1)
    throw std::runtime_error("the system random generator failed");
  return base64url_encode({reinterpret_cast<const char*>(buf.data()), buf.size()});
}

std::string base64url_encode(std::string_view data) {
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : data) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(alphabet[(acc >> bits) & 0x3f]);
    }
  }
  if (bits > 0)
    out.push_back(alphabet[(acc << (6 - bits)) & 0x3f]);
  return out;
}

bool base64url_decode(std::string_view text, std::string& out) {
  out.clear();
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    int v;
    if (c >= 'A' && c <= 'Z')
      v = c - 'A';
    else if (c >= 'a' && c <= 'z')
      v = c - 'a' + 26;
    else if (c >= '0' && c <= '9')
      v = c - '0' + 52;
    else if (c == '-')
      v = 62;
    else if (c == '_')
      v = 63;
    else
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

} // namespace clean::persistence
