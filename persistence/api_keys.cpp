#include "persistence/api_keys.hpp"

#include "persistence/digest.hpp"
#include "persistence/rows.hpp"

#include <pqxx/pqxx>

namespace clean::persistence {

namespace {
constexpr const char* insert_sql =
    "INSERT INTO api_keys (name, prefix, key_hash) VALUES ($1, $2, $3) RETURNING id";
constexpr const char* list_sql =
    "SELECT id, name, prefix, ts_to_micros(created_at), ts_to_micros(last_used_at), "
    "ts_to_micros(revoked_at) FROM api_keys ORDER BY id";
constexpr const char* revoke_sql =
    "UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL RETURNING id";
constexpr const char* authenticate_sql = "UPDATE api_keys SET last_used_at = now() "
                                         "WHERE key_hash = $1 AND revoked_at IS NULL RETURNING id, name";
constexpr size_t prefix_length = 12; // "csk_" + 8 characters

std::string time_text(const pqxx::field& f) {
  return f.is_null() ? std::string{} : format_rfc3339(f.as<int64_t>());
}
} // namespace

void api_keys::prepare(pqxx::connection_base& conn) {
  conn.prepare("api_key_authenticate", authenticate_sql);
}

std::string api_keys::hash(std::string_view key) {
  return sha256_hex(key);
}

api_keys::created api_keys::create(pqxx::transaction_base& tx, const std::string& name) {
  created out;
  out.key = "csk_" + random_token(32);
  out.prefix = out.key.substr(0, prefix_length);
  out.id = tx.exec_params1(insert_sql, name, out.prefix, hash(out.key))[0].as<int64_t>();
  return out;
}

std::vector<api_keys::listed> api_keys::list(pqxx::transaction_base& tx) {
  std::vector<listed> out;
  for (const auto& r : tx.exec(list_sql))
    out.push_back({r[0].as<int64_t>(), r[1].as<std::string>(), r[2].as<std::string>(), time_text(r[3]),
                   time_text(r[4]), time_text(r[5])});
  return out;
}

bool api_keys::revoke(pqxx::transaction_base& tx, int64_t id) {
  return !tx.exec_params(revoke_sql, id).empty();
}

std::optional<api_principal> api_keys::authenticate(pqxx::transaction_base& tx, const std::string& key_hash) {
  auto res = tx.exec_prepared("api_key_authenticate", key_hash);
  if (res.empty())
    return std::nullopt;
  return api_principal{res[0][0].as<int64_t>(), res[0][1].as<std::string>()};
}

} // namespace clean::persistence
