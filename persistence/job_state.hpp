#pragma once

// The jobs' shared truth in PostgreSQL: per-job state (schedule slot,
// running, outcomes, failures), the runners' heartbeats, and the advisory
// locks that keep a job from running twice at once anywhere.

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace pqxx {
class connection_base;
class transaction_base;
} // namespace pqxx

namespace clean::persistence::job_store {

/// What a status listing needs to know of a job besides its row.
struct job_info {
  std::string name;
  std::string schedule;
  int64_t period_seconds = 0;
  /// Overdue after this long without a success (0 = never).
  int64_t overdue_after_seconds = 0;
};

struct job_row {
  std::string name;
  bool paused = false;
  int64_t next_run_at = 0; // micros, 0 = unset
  int64_t last_success_at = 0;
  int64_t created_at = 0;
  int consecutive_failures = 0;
};

/// Creates the job's row (first slot `first_run`, micros) if missing.
void ensure(pqxx::transaction_base& tx, const std::string& name, int64_t first_run);
std::optional<job_row> get(pqxx::transaction_base& tx, const std::string& name);

/// Moves a due, unpaused job's slot to `next` (micros). True for exactly one
/// caller per slot, whichever instance asks first.
bool claim_slot(pqxx::transaction_base& tx, const std::string& name, int64_t next);
/// Sets the next slot unconditionally (the skip policy after downtime).
void set_next_run(pqxx::transaction_base& tx, const std::string& name, int64_t next);

void started(pqxx::transaction_base& tx, const std::string& name, const std::string& owner);
void heartbeat(pqxx::transaction_base& tx, const std::string& name);
void succeeded(pqxx::transaction_base& tx, const std::string& name, int64_t duration_ms, int64_t items,
               const std::string& summary);
void failed(pqxx::transaction_base& tx, const std::string& name, int64_t duration_ms,
            const std::string& error);

enum class change { done, unknown, paused };
change set_paused(pqxx::transaction_base& tx, const std::string& name, bool paused);
/// Makes the job due now (refused while paused).
change request_run(pqxx::transaction_base& tx, const std::string& name);

/// Session-level advisory lock for `name`; false when another session holds it.
bool try_lock(pqxx::transaction_base& tx, const std::string& name);
void unlock(pqxx::transaction_base& tx, const std::string& name);

void runner_heartbeat(pqxx::transaction_base& tx, const std::string& instance, const std::string& host,
                      int pid, int64_t started_at);

/// `{"runner": {...}, "jobs": [...]}` for the admin API and the CLI.
nlohmann::json status(pqxx::transaction_base& tx, const std::vector<job_info>& jobs, int64_t ttl_seconds);

} // namespace clean::persistence::job_store
