#pragma once

// The jobs: what each one does in one run. A run is a plain blocking
// function over a database connection; the job actors (actors/job.hpp) and
// `clean-service jobs run --once` call it through run_job (jobs/run.hpp).
// Every job is idempotent: running it twice, or on two instances at once,
// queues and sends each item once.

#include "config/settings.hpp"
#include "delivery/circuit_breaker.hpp"
#include "delivery/dispatch.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace pqxx {
class connection_base;
}

namespace clean::telemetry {
struct jobs_metrics;
struct job_series;
struct delivery_metrics;
} // namespace clean::telemetry

namespace clean::jobs {

struct job_context {
  pqxx::connection_base& conn;
  const config::jobs_settings& settings;
  /// For pg_dump (the backup job).
  std::string database_url;
  /// Base of links in emails.
  std::string public_base_url;
  /// Call between batches: proves the job is alive while it works.
  std::function<void()> heartbeat;
  const telemetry::jobs_metrics* metrics = nullptr; // may be null
  const telemetry::job_series* series = nullptr;    // this job's series, may be null
  /// How emails go out (the email actor, or an adapter in the CLI). Unset:
  /// email events are deferred.
  delivery::email_sender send_email = {};
  const telemetry::delivery_metrics* delivery = nullptr; // may be null
  /// How SMS go out; unset: SMS events are deferred.
  delivery::email_sender send_sms = {};
  /// The breaker around Stripe's API, kept across runs (null: one per run).
  std::shared_ptr<circuit_breaker> stripe_api = {};
  /// Where breaker snapshots go for GET /v1/admin/circuits (may be null).
  std::shared_ptr<circuit_board> board = {};
};

struct job_result {
  int64_t items = 0;   // what the run handled
  std::string summary; // one line, e.g. "queued 3 reminders (1 already queued)"
};

/// A failure whose cause is known and labelled (job_errors_total{reason}).
class job_failure : public std::runtime_error {
public:
  job_failure(std::string reason, const std::string& message) :
      std::runtime_error(message), reason_(std::move(reason)) {}
  const std::string& reason() const { return reason_; }

private:
  std::string reason_;
};

using job_fn = std::function<job_result(job_context&)>;

struct job_definition {
  std::string name;
  std::string description;
  job_fn run;
};

const std::vector<job_definition>& all_jobs();
const job_definition* find_job(const std::string& name);

// The jobs themselves (one file per area).
job_result booking_reminders(job_context& ctx);
job_result invoice_reminders(job_context& ctx);
job_result nps_send(job_context& ctx);
job_result outbox_dispatch(job_context& ctx);
job_result email_dlq(job_context& ctx);
job_result storage_janitor(job_context& ctx);
job_result backup(job_context& ctx);
job_result stripe_reconcile(job_context& ctx);

} // namespace clean::jobs
