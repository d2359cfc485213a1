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
// Outcomes are fenced by the claim: `attempts` grows with every claim, so a
// worker whose lease ran out (and whose event was claimed again) changes
// nothing when it finally reports.
constexpr const char* fence = " WHERE id = $1 AND attempts = $2 AND status IN ('pending', 'retry')";
const std::string delivered_sql =
    std::string{"UPDATE outbox_events SET status = 'delivered', delivered_at = now(), last_error = NULL"} +
    fence;
const std::string retry_sql = std::string{"UPDATE outbox_events SET status = 'retry', last_error = $4, "
                                          "next_attempt_at = now() + $3 * interval '1 second'"} +
                              fence;
// Deferred (the provider's breaker is open): the claim's attempt is given
// back, so waiting out an outage never uses up retries or buries anything.
const std::string defer_sql = std::string{"UPDATE outbox_events SET attempts = attempts - 1, "
                                          "next_attempt_at = now() + $3 * interval '1 second'"} +
                              fence;
const std::string dead_sql =
    std::string{"UPDATE outbox_events SET status = 'dead', dead_at = now(), last_error = $3"} + fence;
constexpr const char* bury_sql = "UPDATE outbox_events SET status = 'dead', dead_at = now(), last_error = "
                                 "coalesce(last_error, '') || ' (attempts exhausted)' "
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

bool delivered(pqxx::connection_base& conn, const claimed_event& ev) {
  pqxx::nontransaction tx{conn};
  return tx.exec_params(delivered_sql, ev.id, ev.attempts).affected_rows() == 1;
}

bool retry(pqxx::connection_base& conn, const claimed_event& ev, int64_t delay_seconds,
           const std::string& error) {
  pqxx::nontransaction tx{conn};
  return tx.exec_params(retry_sql, ev.id, ev.attempts, delay_seconds, error.substr(0, 2000))
             .affected_rows() == 1;
}

bool defer(pqxx::connection_base& conn, const claimed_event& ev, int64_t delay_seconds) {
  pqxx::nontransaction tx{conn};
  return tx.exec_params(defer_sql, ev.id, ev.attempts, delay_seconds).affected_rows() == 1;
}

bool dead(pqxx::connection_base& conn, const claimed_event& ev, const std::string& error) {
  pqxx::nontransaction tx{conn};
  return tx.exec_params(dead_sql, ev.id, ev.attempts, error.substr(0, 2000)).affected_rows() == 1;
}

int64_t bury_exhausted(pqxx::connection_base& conn, const std::string& kind, int max_attempts) {
  pqxx::nontransaction tx{conn};
  return static_cast<int64_t>(tx.exec_params(bury_sql, kind, max_attempts).affected_rows());
}

} // namespace clean::persistence::outbox_delivery
