#include "persistence/idempotency.hpp"

#include "persistence/domain_error.hpp"

#include <pqxx/pqxx>

namespace clean::persistence {

namespace {
constexpr const char* claim_sql =
    "INSERT INTO idempotency_keys (scope, key, request_hash, status_code, response_body) "
    "VALUES ($1, $2, $3, 0, '') ON CONFLICT (scope, key) DO NOTHING";
constexpr const char* stored_sql =
    "SELECT request_hash, status_code, response_body FROM idempotency_keys WHERE scope = $1 AND key = $2";
constexpr const char* record_sql =
    "UPDATE idempotency_keys SET status_code = $3, response_body = $4 WHERE scope = $1 AND key = $2";
} // namespace

void idempotency::prepare(pqxx::connection_base& conn) {
  conn.prepare("idem_claim", claim_sql);
  conn.prepare("idem_stored", stored_sql);
  conn.prepare("idem_record", record_sql);
}

std::optional<api_result> idempotency::claim(pqxx::transaction_base& tx, const write_context& w) {
  if (w.idempotency_key.empty())
    return std::nullopt;
  if (tx.exec_prepared("idem_claim", w.scope, w.idempotency_key, w.request_hash).affected_rows() == 1)
    return std::nullopt;
  auto r = tx.exec_prepared1("idem_stored", w.scope, w.idempotency_key);
  if (r[0].as<std::string>() != w.request_hash)
    throw domain_error(domain_error::kind::invalid, "idempotency_key_reused",
                       "this Idempotency-Key was already used for a different request", "Idempotency-Key");
  api_result stored;
  stored.status = static_cast<uint16_t>(r[1].as<int>());
  stored.body = r[2].as<std::string>();
  stored.replayed = true;
  return stored;
}

void idempotency::record(pqxx::transaction_base& tx, const write_context& w, const api_result& answer) {
  if (w.idempotency_key.empty())
    return;
  tx.exec_prepared0("idem_record", w.scope, w.idempotency_key, static_cast<int>(answer.status), answer.body);
}

} // namespace clean::persistence
