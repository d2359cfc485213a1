#include "persistence/admin.hpp"

#include "persistence/digest.hpp"
#include "persistence/domain_error.hpp"
#include "persistence/rows.hpp"

#include <pqxx/pqxx>

namespace clean::persistence {

namespace {

constexpr const char* session_columns =
    "id, reason, started_by, ts_to_micros(started_at), ts_to_micros(expires_at), ts_to_micros(ended_at), "
    "ended_by, uses, ts_to_micros(last_used_at), "
    "CASE WHEN ended_at IS NOT NULL THEN 'ended' WHEN expires_at <= now() THEN 'expired' "
    "ELSE 'active' END";

const std::string insert_session_sql = std::string{"INSERT INTO break_glass_sessions "
                                                   "(token_hash, reason, started_by, expires_at) "
                                                   "VALUES ($1, $2, $3, now() + $4 * interval '1 minute') "
                                                   "RETURNING "} +
                                       session_columns;
const std::string list_open_sql = std::string{"SELECT "} + session_columns +
                                  " FROM break_glass_sessions WHERE ended_at IS NULL AND expires_at > now() "
                                  "ORDER BY id DESC";
const std::string list_all_sql =
    std::string{"SELECT "} + session_columns + " FROM break_glass_sessions ORDER BY id DESC LIMIT 200";
const std::string end_sql = std::string{"UPDATE break_glass_sessions SET ended_at = now(), ended_by = $2 "
                                        "WHERE id = $1 AND ended_at IS NULL AND expires_at > now() "
                                        "RETURNING "} +
                            session_columns;
constexpr const char* state_sql = "SELECT ended_at IS NOT NULL FROM break_glass_sessions WHERE id = $1";
// Locks the row so a use racing an early end sees the end.
constexpr const char* use_sql = "SELECT id, reason, started_by, ended_at IS NOT NULL, expires_at <= now() "
                                "FROM break_glass_sessions WHERE token_hash = $1 FOR UPDATE";
constexpr const char* count_use_sql =
    "UPDATE break_glass_sessions SET uses = uses + 1, last_used_at = now() WHERE id = $1";
constexpr const char* count_open_sql =
    "SELECT count(*) FROM break_glass_sessions WHERE ended_at IS NULL AND expires_at > now()";

constexpr const char* audit_insert_sql =
    "INSERT INTO admin_audit (actor, action, target, reason, break_glass_session_id, status, outcome, "
    "request_id, client_address) VALUES ($1, $2, NULLIF($3, ''), NULLIF($4, ''), NULLIF($5, 0), $6, $7, "
    "NULLIF($8, ''), NULLIF($9, ''))";
// Keyset on (at, id) descending; a cursor time of -1 means "from the newest".
constexpr const char* audit_list_sql =
    "SELECT id, actor, action, target, reason, break_glass_session_id, status, outcome, request_id, "
    "client_address, ts_to_micros(at) FROM admin_audit "
    "WHERE $1::bigint < 0 OR (at, id) < (micros_to_ts($1::bigint), $2::bigint) "
    "ORDER BY at DESC, id DESC LIMIT $3";

nlohmann::json session_json(const pqxx::row& r) {
  using rows::time_or_null;
  using size = pqxx::row::size_type;
  return {{"id", r[size{0}].as<int64_t>()},
          {"reason", r[size{1}].as<std::string>()},
          {"started_by", r[size{2}].as<std::string>()},
          {"started_at", time_or_null(r[size{3}])},
          {"expires_at", time_or_null(r[size{4}])},
          {"ended_at", time_or_null(r[size{5}])},
          {"ended_by", rows::text_or_null(r[size{6}])},
          {"uses", r[size{7}].as<int64_t>()},
          {"last_used_at", time_or_null(r[size{8}])},
          {"state", r[size{9}].as<std::string>()}};
}

nlohmann::json audit_json(const pqxx::row& r) {
  using size = pqxx::row::size_type;
  nlohmann::json session = nullptr;
  if (!r[size{5}].is_null())
    session = r[size{5}].as<int64_t>();
  return {{"id", r[size{0}].as<int64_t>()},
          {"at", rows::time_or_null(r[size{10}])},
          {"actor", r[size{1}].as<std::string>()},
          {"action", r[size{2}].as<std::string>()},
          {"target", rows::text_or_null(r[size{3}])},
          {"reason", rows::text_or_null(r[size{4}])},
          {"break_glass_session_id", session},
          {"status", r[size{6}].as<int>()},
          {"outcome", r[size{7}].as<std::string>()},
          {"request_id", rows::text_or_null(r[size{8}])},
          {"client_address", rows::text_or_null(r[size{9}])}};
}

admin_audit_entry session_event(const admin_origin& origin, const char* action, int64_t session_id,
                                std::string reason, int status, int64_t by_session = 0) {
  admin_audit_entry e;
  e.origin = origin;
  e.action = action;
  e.target = std::to_string(session_id);
  e.reason = std::move(reason);
  e.break_glass_session_id = by_session != 0 ? by_session : session_id;
  e.status = status;
  e.outcome = "success";
  return e;
}

} // namespace

namespace break_glass {

void prepare(pqxx::connection_base& conn) {
  conn.prepare("break_glass_use", use_sql);
  conn.prepare("break_glass_count_use", count_use_sql);
}

nlohmann::json start(pqxx::transaction_base& tx, const break_glass_start& req) {
  auto token = "bg_" + random_token(32);
  auto row =
      tx.exec_params1(insert_session_sql, sha256_hex(token), req.reason, req.origin.user, req.ttl_minutes);
  auto out = session_json(row);
  audit::insert(tx,
                session_event(req.origin, "break_glass.start", out["id"].get<int64_t>(), req.reason, 201));
  out["token"] = std::move(token);
  out["ttl_minutes"] = req.ttl_minutes;
  out["ttl_capped"] = req.capped;
  return out;
}

nlohmann::json list(pqxx::transaction_base& tx, bool all) {
  auto data = nlohmann::json::array();
  for (const auto& r : tx.exec(all ? list_all_sql : list_open_sql))
    data.push_back(session_json(r));
  return {{"data", std::move(data)}, {"active_count", count_open(tx)}};
}

nlohmann::json end(pqxx::transaction_base& tx, const break_glass_end& req) {
  auto res = tx.exec_params(end_sql, req.session_id, req.origin.user);
  if (res.empty()) {
    auto state = tx.exec_params(state_sql, req.session_id);
    if (state.empty())
      throw domain_error(domain_error::kind::not_found, "not_found", "no break-glass session with that id");
    throw domain_error(domain_error::kind::conflict, "break_glass_not_active",
                       state[0][0].as<bool>() ? "the session has already ended" : "the session has expired");
  }
  auto out = session_json(res[0]);
  audit::insert(tx, session_event(req.origin, "break_glass.end", req.session_id, out["reason"], 200,
                                  req.by_session_id));
  return out;
}

break_glass_grant use(pqxx::transaction_base& tx, const std::string& token_hash) {
  auto res = tx.exec_prepared("break_glass_use", token_hash);
  if (res.empty())
    throw domain_error(domain_error::kind::unauthenticated, "break_glass_invalid",
                       "the break-glass token is not valid");
  const auto& r = res[0];
  using size = pqxx::row::size_type;
  if (r[size{3}].as<bool>())
    throw domain_error(domain_error::kind::forbidden, "break_glass_ended",
                       "the break-glass session was ended; start a new one");
  if (r[size{4}].as<bool>())
    throw domain_error(domain_error::kind::forbidden, "break_glass_expired",
                       "the break-glass session has expired; start a new one");
  auto id = r[size{0}].as<int64_t>();
  tx.exec_prepared("break_glass_count_use", id);
  return {id, r[size{1}].as<std::string>(), r[size{2}].as<std::string>()};
}

int64_t count_open(pqxx::transaction_base& tx) {
  return tx.exec1(count_open_sql)[0].as<int64_t>();
}

} // namespace break_glass

namespace audit {

void prepare(pqxx::connection_base& conn) {
  conn.prepare("admin_audit_insert", audit_insert_sql);
}

void insert(pqxx::transaction_base& tx, const admin_audit_entry& e) {
  tx.exec_prepared("admin_audit_insert", e.origin.user, e.action, e.target, e.reason,
                   e.break_glass_session_id, e.status, e.outcome, e.origin.request_id, e.origin.client);
}

nlohmann::json list(pqxx::transaction_base& tx, const audit_query& q) {
  int64_t after_time = q.after ? q.after->time : -1;
  int64_t after_id = q.after ? q.after->id : 0;
  auto res = tx.exec_params(audit_list_sql, after_time, after_id, q.limit + 1);
  return rows::page(res, q.limit, 10, audit_json);
}

} // namespace audit

} // namespace clean::persistence
