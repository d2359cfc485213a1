#include "jobs/run.hpp"

#include "persistence/job_state.hpp"
#include "telemetry/logging.hpp"
#include "telemetry/metrics.hpp"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <pqxx/pqxx>

#include <chrono>

namespace clean::jobs {

using telemetry::log;

namespace {

using clock = std::chrono::steady_clock;

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

/// Failure bookkeeping must not hide the failure: errors here are logged.
template <class F>
void best_effort(const std::string& job, const char* what, F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    log(spdlog::level::warn, "job_state_write_failed", "could not record job state",
        {{"job", job}, {"step", what}, {"error", e.what()}});
  }
}

void record_metrics(const job_context& ctx, const std::string& job, const run_report& r) {
  const auto* s = ctx.series;
  if (!s)
    return;
  switch (r.outcome) {
    case run_report::status::success:
      s->runs_success->Increment();
      s->last_success->Set(unix_now());
      break;
    case run_report::status::failure:
      s->runs_failure->Increment();
      if (ctx.metrics)
        ctx.metrics->count_error(job, r.reason);
      break;
    case run_report::status::skipped:
      s->runs_skipped->Increment();
      return;
  }
  s->duration->Observe(r.seconds);
  s->last_heartbeat->Set(unix_now());
}

} // namespace

const char* to_string(run_report::status s) {
  switch (s) {
    case run_report::status::success:
      return "success";
    case run_report::status::failure:
      return "failure";
    case run_report::status::skipped:
      return "skipped";
  }
  return "unknown";
}

run_report run_job(const job_definition& def, job_context& ctx, const std::string& owner) {
  namespace store = persistence::job_store;
  run_report report;
  {
    pqxx::nontransaction tx{ctx.conn};
    store::ensure(tx, def.name, 0);
    if (!store::try_lock(tx, def.name)) {
      report.error = "another run of this job holds its lock";
      record_metrics(ctx, def.name, report);
      return report;
    }
    store::started(tx, def.name, owner);
  }
  // Heartbeats during the run reach the database at most once a second.
  auto outer = ctx.heartbeat;
  auto last_write = clock::now();
  job_context run_ctx = ctx;
  run_ctx.heartbeat = [&] {
    if (outer)
      outer();
    if (clock::now() - last_write < std::chrono::seconds(1))
      return;
    last_write = clock::now();
    best_effort(def.name, "heartbeat", [&] {
      pqxx::nontransaction tx{ctx.conn};
      store::heartbeat(tx, def.name);
    });
  };
  auto start = clock::now();
  try {
    report.result = def.run(run_ctx);
    report.outcome = run_report::status::success;
  } catch (const job_failure& e) {
    report.outcome = run_report::status::failure;
    report.reason = e.reason();
    report.error = e.what();
  } catch (const pqxx::broken_connection& e) {
    report.outcome = run_report::status::failure;
    report.reason = "database";
    report.error = std::string{"database connection lost: "} + e.what();
    report.connection_broken = true;
  } catch (const pqxx::failure& e) {
    report.outcome = run_report::status::failure;
    report.reason = "database";
    report.error = e.what();
  } catch (const std::exception& e) {
    report.outcome = run_report::status::failure;
    report.reason = "exception";
    report.error = e.what();
  }
  report.seconds = std::chrono::duration<double>(clock::now() - start).count();
  auto ms = static_cast<int64_t>(report.seconds * 1000);
  if (!report.connection_broken) {
    best_effort(def.name, "finish", [&] {
      pqxx::nontransaction tx{ctx.conn};
      if (report.outcome == run_report::status::success)
        store::succeeded(tx, def.name, ms, report.result.items, report.result.summary);
      else
        store::failed(tx, def.name, ms, report.error);
      store::unlock(tx, def.name);
    });
  }
  record_metrics(ctx, def.name, report);
  // Frequent jobs with nothing to do would flood the log: those are debug.
  auto quiet = report.result.items == 0 ? spdlog::level::debug : spdlog::level::info;
  if (report.outcome == run_report::status::success)
    log(quiet, "job_run", "job run finished",
        {{"job", def.name},
         {"outcome", "success"},
         {"items", report.result.items},
         {"duration_ms", ms},
         {"summary", report.result.summary}});
  else
    log(spdlog::level::err, "job_run", "job run failed",
        {{"job", def.name},
         {"outcome", "failure"},
         {"reason", report.reason},
         {"duration_ms", ms},
         {"error", report.error}});
  return report;
}

} // namespace clean::jobs
