#include "persistence/dead_letters.hpp"

#include "persistence/domain_error.hpp"
#include "persistence/rows.hpp"

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

namespace clean::persistence {

namespace {

using size = pqxx::row::size_type;

constexpr const char* event_columns =
    "id, kind, dedupe_key, attempts, last_error, ts_to_micros(created_at), ts_to_micros(dead_at), replays, "
    "ts_to_micros(last_replayed_at), payload->>'template', status, coalesce(ts_to_micros(dead_at), 0)";

const std::string list_sql =
    std::string{"SELECT "} + event_columns +
    " FROM outbox_events WHERE status = 'dead' AND ($1 = '' OR kind = $1)"
    " AND (NOT $2::boolean OR (coalesce(ts_to_micros(dead_at), 0), id) < ($3::bigint, $4::bigint))"
    " ORDER BY coalesce(ts_to_micros(dead_at), 0) DESC, id DESC LIMIT $5";

const std::string replay_sql =
    std::string{"UPDATE outbox_events SET status = 'pending', attempts = 0, next_attempt_at = now(), "
                "replays = replays + 1, last_replayed_at = now(), last_replayed_by = $3 "
                "WHERE id = $1 AND status = 'dead' AND ($2 = '' OR kind = $2) RETURNING "} +
    event_columns;
constexpr const char* find_sql = "SELECT status, kind FROM outbox_events WHERE id = $1";

constexpr const char* bulk_where =
    " FROM outbox_events WHERE status = 'dead' AND kind = $1"
    " AND dead_at >= coalesce(micros_to_ts(NULLIF($2::bigint, 0)), '-infinity'::timestamptz)"
    " AND dead_at < coalesce(micros_to_ts(NULLIF($3::bigint, 0)), 'infinity'::timestamptz)";
const std::string bulk_count_sql = std::string{"SELECT count(*)"} + bulk_where;
const std::string bulk_preview_sql = std::string{"SELECT id"} + bulk_where + " ORDER BY id LIMIT $4";
const std::string bulk_replay_sql =
    std::string{"WITH picked AS (SELECT id"} + bulk_where +
    " ORDER BY id LIMIT $4 FOR UPDATE SKIP LOCKED) "
    "UPDATE outbox_events o SET status = 'pending', attempts = 0, next_attempt_at = now(), "
    "replays = replays + 1, last_replayed_at = now(), last_replayed_by = $5 "
    "FROM picked WHERE o.id = picked.id RETURNING o.id";

constexpr const char* queues_sql =
    "SELECT kind, count(*) FILTER (WHERE status = 'dead'), "
    "extract(epoch FROM now() - min(dead_at) FILTER (WHERE status = 'dead'))::float8, "
    "count(*) FILTER (WHERE status = 'retry'), count(*) FILTER (WHERE status = 'pending'), "
    "extract(epoch FROM now() - min(next_attempt_at) FILTER (WHERE status IN ('pending', 'retry') "
    "AND next_attempt_at <= now()))::float8 "
    "FROM outbox_events WHERE status IN ('pending', 'retry', 'dead') GROUP BY kind";

constexpr const char* depths_sql = "SELECT status, kind, count(*) FROM outbox_events "
                                   "WHERE status IN ('pending', 'retry', 'dead') GROUP BY status, kind";

constexpr const char* set_override_sql =
    "INSERT INTO circuit_overrides (circuit, state, set_by, reason) VALUES ($1, $2, $3, NULLIF($4, '')) "
    "ON CONFLICT (circuit) DO UPDATE SET state = excluded.state, set_by = excluded.set_by, "
    "reason = excluded.reason, set_at = now()";
constexpr const char* clear_override_sql = "DELETE FROM circuit_overrides WHERE circuit = $1";
constexpr const char* overrides_sql =
    "SELECT circuit, state, set_by, coalesce(reason, ''), ts_to_micros(set_at) FROM circuit_overrides "
    "ORDER BY circuit";

nlohmann::json event_json(const pqxx::row& r) {
  using rows::text_or_null;
  using rows::time_or_null;
  return {{"id", r[size{0}].as<int64_t>()},
          {"kind", r[size{1}].as<std::string>()},
          {"dedupe_key", r[size{2}].as<std::string>()},
          {"attempts", r[size{3}].as<int>()},
          {"last_error", text_or_null(r[size{4}])},
          {"created_at", time_or_null(r[size{5}])},
          {"dead_at", time_or_null(r[size{6}])},
          {"replays", r[size{7}].as<int>()},
          {"last_replayed_at", time_or_null(r[size{8}])},
          {"template", text_or_null(r[size{9}])},
          {"status", r[size{10}].as<std::string>()}};
}

} // namespace

namespace dead_letters {

const std::vector<std::string>& kinds() {
  static const std::vector<std::string> all{"email", "sms", "export", "webhook"};
  return all;
}

nlohmann::json list(pqxx::transaction_base& tx, const dead_letter_query& q) {
  int64_t after_time = q.after ? q.after->time : 0;
  int64_t after_id = q.after ? q.after->id : 0;
  auto res = tx.exec_params(list_sql, q.kind, q.after.has_value(), after_time, after_id, q.limit + 1);
  return rows::page(res, q.limit, 11, event_json);
}

nlohmann::json replay(pqxx::transaction_base& tx, int64_t id, const std::string& kind,
                      const std::string& actor) {
  auto res = tx.exec_params(replay_sql, id, kind, actor);
  if (!res.empty())
    return event_json(res[0]);
  auto found = tx.exec_params(find_sql, id);
  auto what = kind.empty() ? std::string{"outbox event"} : kind + " event";
  if (found.empty() || (!kind.empty() && found[0][size{1}].as<std::string>() != kind))
    throw domain_error(domain_error::kind::not_found, "not_found",
                       "no " + what + " with id " + std::to_string(id));
  throw domain_error(domain_error::kind::conflict, "not_dead",
                     what + " " + std::to_string(id) + " is " + found[0][size{0}].as<std::string>() +
                         "; only dead events can be replayed");
}

nlohmann::json bulk_replay(pqxx::transaction_base& tx, const dead_letter_bulk& q) {
  auto matched = tx.exec_params(bulk_count_sql, q.kind, q.from, q.to)[0][size{0}].as<int64_t>();
  auto ids = nlohmann::json::array();
  if (q.dry_run) {
    for (const auto& r : tx.exec_params(bulk_preview_sql, q.kind, q.from, q.to, q.limit))
      ids.push_back(r[size{0}].as<int64_t>());
  } else {
    for (const auto& r : tx.exec_params(bulk_replay_sql, q.kind, q.from, q.to, q.limit, q.actor))
      ids.push_back(r[size{0}].as<int64_t>());
  }
  auto count = static_cast<int64_t>(ids.size());
  return {{"kind", q.kind},        {"dry_run", q.dry_run},
          {"matched", matched},    {q.dry_run ? "would_replay" : "replayed", count},
          {"ids", std::move(ids)}, {"remaining", matched - count}};
}

nlohmann::json queues(pqxx::transaction_base& tx) {
  nlohmann::json by_kind = nlohmann::json::object();
  for (const auto& k : kinds())
    by_kind[k] = {{"queue", k},         {"dead", 0},    {"oldest_dead_age_seconds", nullptr},
                  {"waiting_retry", 0}, {"pending", 0}, {"oldest_due_age_seconds", nullptr}};
  for (const auto& r : tx.exec(queues_sql)) {
    auto kind = r[size{0}].as<std::string>();
    auto& q = by_kind[kind];
    q["queue"] = kind;
    q["dead"] = r[size{1}].as<int64_t>();
    q["oldest_dead_age_seconds"] =
        r[size{2}].is_null() ? nlohmann::json(nullptr) : nlohmann::json(r[size{2}].as<double>());
    q["waiting_retry"] = r[size{3}].as<int64_t>();
    q["pending"] = r[size{4}].as<int64_t>();
    q["oldest_due_age_seconds"] =
        r[size{5}].is_null() ? nlohmann::json(nullptr) : nlohmann::json(r[size{5}].as<double>());
  }
  auto data = nlohmann::json::array();
  for (auto& [kind, q] : by_kind.items())
    data.push_back(q);
  return {{"data", std::move(data)}};
}

outbox_depths depths(pqxx::transaction_base& tx) {
  outbox_depths d;
  for (const auto& r : tx.exec(depths_sql)) {
    auto status = r[size{0}].as<std::string>();
    bool email = r[size{1}].as<std::string>() == "email";
    auto n = r[size{2}].as<int64_t>();
    if (status == "pending") {
      d.pending += n;
    } else if (status == "retry") {
      d.retry += n;
      d.email_retry += email ? n : 0;
    } else {
      d.dead += n;
      d.email_dead += email ? n : 0;
    }
  }
  return d;
}

} // namespace dead_letters

namespace circuit_overrides {

void set(pqxx::transaction_base& tx, const circuit_override& o) {
  tx.exec_params(set_override_sql, o.circuit, o.state, o.set_by, o.reason);
}

bool clear(pqxx::transaction_base& tx, const std::string& circuit) {
  return tx.exec_params(clear_override_sql, circuit).affected_rows() > 0;
}

std::vector<circuit_override> all(pqxx::transaction_base& tx) {
  std::vector<circuit_override> out;
  for (const auto& r : tx.exec(overrides_sql))
    out.push_back({r[size{0}].as<std::string>(), r[size{1}].as<std::string>(), r[size{2}].as<std::string>(),
                   r[size{3}].as<std::string>(), r[size{4}].as<int64_t>()});
  return out;
}

} // namespace circuit_overrides

} // namespace clean::persistence
