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

namespace clean::persistence::outbox_delivery {

namespace {

constexpr const char* claim_sql =
    "UPDATE outbox_events SET attempts = attempts + 1, next_attempt_at = now() + $4 * interval '1 second' "
    "WHERE id IN (SELECT id FROM outbox_events WHERE status = ANY($1::text[]) AND kind = ANY($2::text[]) "
    "AND next_attempt_at <= now() ORDER BY next_attempt_at, id LIMIT $3 FOR UPDATE SKIP LOCKED) "
    "RETURNING id, kind, dedupe_key, payload::text, attempts";
constexpr const char* delivered_sql = "UPDATE outbox_events SET status = 'delivered', delivered_at = now(), "
                                      "last_error = NULL WHERE id = $1";
constexpr const char* retry_sql = "UPDATE outbox_events SET status = 'retry', last_error = $3, "
                                  "next_attempt_at = now() + $2 * interval '1 second' WHERE id = $1";
constexpr const char* dead_sql = "UPDATE outbox_events SET status = 'dead', last_error = $2 WHERE id = $1";
constexpr const char* bury_sql =
    "UPDATE outbox_events SET status = 'dead', last_error = coalesce(last_error, '') || ' (attempts exhausted)' "
    "WHERE status = 'retry' AND kind = $1 AND attempts >= $2";

std::string array_literal(const std::vector<std::string>& xs) {
  std::string out = "{";
  for (size_t i = 0; i < xs.size(); ++i)
    out += (i ? "," : "") + xs[i]; // fixed identifiers from code, never input
  return out + "}";
}

} // namespace

std::vector<claimed_event> claim(pqxx::connection_base& conn, const outbox_selector& sel) {
  pqxx::work tx{conn};
  auto res = tx.exec_params(claim_sql, array_literal(sel.statuses), array_literal(sel.kinds), sel.limit,
                            sel.lease_seconds);
  tx.commit();
  std::vector<claimed_event> out;
  for (const auto& r : res)
    out.push_back({r[0].as<int64_t>(), r[1].as<std::string>(), r[2].as<std::string>(), r[3].as<std::string>(),
                   r[4].as<int>()});
  return out;
}

void delivered(pqxx::connection_base& conn, int64_t id) {
  pqxx::nontransaction tx{conn};
  tx.exec_params(delivered_sql, id);
}

void retry(pqxx::connection_base& conn, int64_t id, int64_t delay_seconds, const std::string& error) {
  pqxx::nontransaction tx{conn};
  tx.exec_params(retry_sql, id, delay_seconds, error.substr(0, 2000));
}

void dead(pqxx::connection_base& conn, int64_t id, const std::string& error) {
  pqxx::nontransaction tx{conn};
  tx.exec_params(dead_sql, id, error.substr(0, 2000));
}

int64_t bury_exhausted(pqxx::connection_base& conn, const std::string& kind, int max_attempts) {
  pqxx::nontransaction tx{conn};
  return static_cast<int64_t>(tx.exec_params(bury_sql, kind, max_attempts).affected_rows());
}

} // namespace clean::persistence::outbox_delivery
