#pragma once

#include "persistence/records.hpp"

#include <optional>
#include <string>
#include <vector>

namespace pqxx {
class connection_base;
class transaction_base;
} // namespace pqxx

namespace clean::persistence {

/// API keys: `csk_` + 256 random bits, base64url. Only the SHA-256 of a key
/// is stored, so a database leak does not leak working keys.
class api_keys {
public:
  struct created {
    int64_t id = 0;
    std::string key; // shown once, never stored
    std::string prefix;
  };
  struct listed {
    int64_t id = 0;
    std::string name;
    std::string prefix;
    std::string created_at;
    std::string last_used_at; // empty = never
    std::string revoked_at;   // empty = active
  };

  static void prepare(pqxx::connection_base& conn);
  static created create(pqxx::transaction_base& tx, const std::string& name);
  static std::vector<listed> list(pqxx::transaction_base& tx);
  /// False when no active key has that id.
  static bool revoke(pqxx::transaction_base& tx, int64_t id);
  /// The key's owner, or nullopt for unknown and revoked keys. Also stamps
  /// `last_used_at` (callers cache positive answers, so this is rare).
  static std::optional<api_principal> authenticate(pqxx::transaction_base& tx, const std::string& key_hash);

  /// The stored form of a presented key.
  static std::string hash(std::string_view key);
};

} // namespace clean::persistence
