#include "persistence/outbox.hpp"

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

namespace clean::persistence {

namespace {
constexpr const char* enqueue_sql = "INSERT INTO outbox_events (kind, dedupe_key, payload) "
                                    "VALUES ($1, $2, $3::jsonb) ON CONFLICT (dedupe_key) DO NOTHING";
}

void outbox::prepare(pqxx::connection_base& conn) {
  conn.prepare("outbox_enqueue", enqueue_sql);
}

bool outbox::enqueue(pqxx::transaction_base& tx, const std::string& kind, const std::string& dedupe_key,
                     const nlohmann::json& payload) {
  return tx.exec_prepared("outbox_enqueue", kind, dedupe_key, payload.dump()).affected_rows() == 1;
}

bool outbox::enqueue_email(pqxx::transaction_base& tx, const std::string& template_name,
                           const std::string& dedupe_key, const nlohmann::json& subject_ids) {
  auto payload = subject_ids;
  payload["template"] = template_name;
  return enqueue(tx, "email", dedupe_key, payload);
}

} // namespace clean::persistence
