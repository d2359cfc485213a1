#include "persistence/job_state.hpp"

#include "persistence/rows.hpp"

#include <pqxx/pqxx>

namespace clean::persistence::job_store {

namespace {

using size = pqxx::row::size_type;

// Advisory lock namespace of the jobs (first key), the job's name hash second.
constexpr const char* lock_sql = "SELECT pg_try_advisory_lock(4242, hashtext($1))";
constexpr const char* unlock_sql = "SELECT pg_advisory_unlock(4242, hashtext($1))";

constexpr const char* ensure_sql =
    "INSERT INTO job_state (name, next_run_at) VALUES ($1, micros_to_ts(NULLIF($2::bigint, 0))) "
    "ON CONFLICT (name) DO NOTHING";
constexpr const char* get_sql =
    "SELECT name, paused, ts_to_micros(next_run_at), ts_to_micros(last_success_at), "
    "ts_to_micros(created_at), consecutive_failures FROM job_state WHERE name = $1";
constexpr const char* claim_sql =
    "UPDATE job_state SET next_run_at = micros_to_ts($2) "
    "WHERE name = $1 AND NOT paused AND (next_run_at IS NULL OR next_run_at <= now()) RETURNING name";
constexpr const char* set_next_sql = "UPDATE job_state SET next_run_at = micros_to_ts($2) WHERE name = $1";
constexpr const char* started_sql =
    "UPDATE job_state SET running_since = now(), running_owner = $2, last_started_at = now(), "
    "last_heartbeat = now() WHERE name = $1";
constexpr const char* heartbeat_sql = "UPDATE job_state SET last_heartbeat = now() WHERE name = $1";
constexpr const char* succeeded_sql =
    "UPDATE job_state SET running_since = NULL, running_owner = NULL, last_finished_at = now(), "
    "last_heartbeat = now(), last_success_at = now(), last_duration_ms = $2, last_items = $3, "
    "last_summary = $4, last_outcome = 'success', consecutive_failures = 0 WHERE name = $1";
constexpr const char* failed_sql =
    "UPDATE job_state SET running_since = NULL, running_owner = NULL, last_finished_at = now(), "
    "last_heartbeat = now(), last_duration_ms = $2, last_outcome = 'failure', "
    "consecutive_failures = consecutive_failures + 1, last_error = $3, last_error_at = now() WHERE name = $1";
constexpr const char* pause_sql = "UPDATE job_state SET paused = $2 WHERE name = $1 RETURNING name";
constexpr const char* request_run_sql =
    "UPDATE job_state SET next_run_at = now() WHERE name = $1 AND NOT paused RETURNING name";
constexpr const char* exists_sql = "SELECT paused FROM job_state WHERE name = $1";
constexpr const char* runner_sql =
    "INSERT INTO job_runners (instance, host, pid, started_at, last_heartbeat) "
    "VALUES ($1, $2, $3, micros_to_ts($4), now()) "
    "ON CONFLICT (instance) DO UPDATE SET last_heartbeat = now()";
constexpr const char* prune_runners_sql =
    "DELETE FROM job_runners WHERE last_heartbeat < now() - interval '1 day'";
constexpr const char* runners_sql =
    "SELECT instance, host, pid, ts_to_micros(started_at), ts_to_micros(last_heartbeat), "
    "extract(epoch FROM now() - last_heartbeat)::float8 FROM job_runners ORDER BY last_heartbeat DESC";
constexpr const char* status_sql =
    "SELECT name, paused, ts_to_micros(next_run_at), ts_to_micros(running_since), running_owner, "
    "ts_to_micros(last_heartbeat), ts_to_micros(last_started_at), ts_to_micros(last_finished_at), "
    "ts_to_micros(last_success_at), last_duration_ms, last_outcome, last_summary, last_items, "
    "consecutive_failures, last_error, ts_to_micros(last_error_at), "
    "extract(epoch FROM now() - coalesce(last_success_at, created_at))::float8, "
    "extract(epoch FROM now() - last_heartbeat)::float8, "
    // A run holds the job's session advisory lock (see lock_sql): it is
    // released when the session ends, so a dead owner never looks running.
    "EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 4242 "
    "AND l.objid = (hashtext(name)::bigint & 4294967295)::oid AND l.objsubid = 2) "
    "FROM job_state WHERE name = $1";

nlohmann::json int_or_null(const pqxx::field& f) {
  if (f.is_null())
    return nullptr;
  return f.as<int64_t>();
}

int64_t micros_or_zero(const pqxx::field& f) {
  return f.is_null() ? 0 : f.as<int64_t>();
}

nlohmann::json job_json(const pqxx::row& r, const job_info& info, int64_t ttl_seconds) {
  using rows::text_or_null;
  using rows::time_or_null;
  bool paused = r[size{1}].as<bool>();
  bool heartbeat_stale = r[size{17}].is_null() || r[size{17}].as<double>() > static_cast<double>(ttl_seconds);
  // A run whose owner died leaves running_since behind; only a held lock
  // means a run is in progress.
  bool running = !r[size{3}].is_null() && r[size{18}].as<bool>();
  nlohmann::json last_error = nullptr;
  if (!r[size{14}].is_null())
    last_error = {{"message", r[size{14}].as<std::string>()}, {"at", time_or_null(r[size{15}])}};
  auto since_success = r[size{16}].as<double>();
  bool overdue = !paused && info.overdue_after_seconds > 0 && since_success > info.overdue_after_seconds;
  return {{"name", info.name},
          {"schedule", info.schedule},
          {"state", paused    ? "paused"
                    : running ? "running"
                              : "idle"},
          {"paused", paused},
          {"running", running},
          {"running_since", running ? time_or_null(r[size{3}]) : nlohmann::json(nullptr)},
          {"running_owner", running ? text_or_null(r[size{4}]) : nlohmann::json(nullptr)},
          {"next_run", time_or_null(r[size{2}])},
          {"last_heartbeat", time_or_null(r[size{5}])},
          {"heartbeat_stale", heartbeat_stale},
          {"last_started", time_or_null(r[size{6}])},
          {"last_finished", time_or_null(r[size{7}])},
          {"last_success", time_or_null(r[size{8}])},
          {"last_duration_ms", int_or_null(r[size{9}])},
          {"last_outcome", text_or_null(r[size{10}])},
          {"last_summary", text_or_null(r[size{11}])},
          {"last_items", int_or_null(r[size{12}])},
          {"consecutive_failures", r[size{13}].as<int>()},
          {"last_error", std::move(last_error)},
          {"overdue", overdue},
          {"overdue_after_seconds", info.overdue_after_seconds}};
}

} // namespace

void ensure(pqxx::transaction_base& tx, const std::string& name, int64_t first_run) {
  tx.exec_params(ensure_sql, name, first_run);
}

std::optional<job_row> get(pqxx::transaction_base& tx, const std::string& name) {
  auto res = tx.exec_params(get_sql, name);
  if (res.empty())
    return std::nullopt;
  const auto& r = res[0];
  return job_row{r[size{0}].as<std::string>(), r[size{1}].as<bool>(),      micros_or_zero(r[size{2}]),
                 micros_or_zero(r[size{3}]),   micros_or_zero(r[size{4}]), r[size{5}].as<int>()};
}

bool claim_slot(pqxx::transaction_base& tx, const std::string& name, int64_t next) {
  return !tx.exec_params(claim_sql, name, next).empty();
}

void set_next_run(pqxx::transaction_base& tx, const std::string& name, int64_t next) {
  tx.exec_params(set_next_sql, name, next);
}

void started(pqxx::transaction_base& tx, const std::string& name, const std::string& owner) {
  tx.exec_params(started_sql, name, owner);
}

void heartbeat(pqxx::transaction_base& tx, const std::string& name) {
  tx.exec_params(heartbeat_sql, name);
}

void succeeded(pqxx::transaction_base& tx, const std::string& name, int64_t duration_ms, int64_t items,
               const std::string& summary) {
  tx.exec_params(succeeded_sql, name, duration_ms, items, summary);
}

void failed(pqxx::transaction_base& tx, const std::string& name, int64_t duration_ms,
            const std::string& error) {
  tx.exec_params(failed_sql, name, duration_ms, error.substr(0, 2000));
}

change set_paused(pqxx::transaction_base& tx, const std::string& name, bool paused) {
  return tx.exec_params(pause_sql, name, paused).empty() ? change::unknown : change::done;
}

change request_run(pqxx::transaction_base& tx, const std::string& name) {
  if (!tx.exec_params(request_run_sql, name).empty())
    return change::done;
  return tx.exec_params(exists_sql, name).empty() ? change::unknown : change::paused;
}

bool try_lock(pqxx::transaction_base& tx, const std::string& name) {
  return tx.exec_params1(lock_sql, name)[0].as<bool>();
}

void unlock(pqxx::transaction_base& tx, const std::string& name) {
  tx.exec_params(unlock_sql, name);
}

void runner_heartbeat(pqxx::transaction_base& tx, const std::string& instance, const std::string& host,
                      int pid, int64_t started_at) {
  tx.exec_params(runner_sql, instance, host, pid, started_at);
  tx.exec(prune_runners_sql);
}

nlohmann::json status(pqxx::transaction_base& tx, const std::vector<job_info>& jobs, int64_t ttl_seconds) {
  auto runners = nlohmann::json::array();
  nlohmann::json newest = nullptr;
  double freshest_age = -1;
  for (const auto& r : tx.exec(runners_sql)) {
    auto age = r[size{5}].as<double>();
    runners.push_back({{"instance", r[size{0}].as<std::string>()},
                       {"host", r[size{1}].as<std::string>()},
                       {"pid", r[size{2}].as<int>()},
                       {"started_at", rows::time_or_null(r[size{3}])},
                       {"last_heartbeat", rows::time_or_null(r[size{4}])},
                       {"stale", age > static_cast<double>(ttl_seconds)}});
    if (freshest_age < 0 || age < freshest_age) {
      freshest_age = age;
      newest = rows::time_or_null(r[size{4}]);
    }
  }
  auto list = nlohmann::json::array();
  for (const auto& info : jobs) {
    auto res = tx.exec_params(status_sql, info.name);
    if (res.empty()) {
      // No runner has seen this job yet: the same fields, all empty.
      list.push_back({{"name", info.name},
                      {"schedule", info.schedule},
                      {"state", "never_run"},
                      {"paused", false},
                      {"running", false},
                      {"running_since", nullptr},
                      {"running_owner", nullptr},
                      {"next_run", nullptr},
                      {"last_heartbeat", nullptr},
                      {"heartbeat_stale", true},
                      {"last_started", nullptr},
                      {"last_finished", nullptr},
                      {"last_success", nullptr},
                      {"last_duration_ms", nullptr},
                      {"last_outcome", nullptr},
                      {"last_summary", nullptr},
                      {"last_items", nullptr},
                      {"consecutive_failures", 0},
                      {"last_error", nullptr},
                      {"overdue", false},
                      {"overdue_after_seconds", info.overdue_after_seconds}});
      continue;
    }
    list.push_back(job_json(res[0], info, ttl_seconds));
  }
  nlohmann::json runner = {{"name", "jobs-runner"},
                           {"last_heartbeat", newest},
                           {"stale", freshest_age < 0 || freshest_age > static_cast<double>(ttl_seconds)},
                           {"heartbeat_ttl_seconds", ttl_seconds},
                           {"instances", std::move(runners)}};
  return {{"runner", std::move(runner)}, {"jobs", std::move(list)}};
}

} // namespace clean::persistence::job_store
