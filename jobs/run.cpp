#include "jobs/run.hpp"

#include "persistence/connection.hpp"
#include "persistence/job_state.hpp"
#include "telemetry/logging.hpp"
#include "telemetry/metrics.hpp"

#include <pqxx/pqxx>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>

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

/// Records how the run ended and releases the job's lock. After a broken
/// connection the session (and with it the lock) is gone: the outcome is
/// written through a fresh connection so status and /readyz still see it.
void finish(const job_definition& def, job_context& ctx, run_report& report, int64_t ms) {
  namespace store = persistence::job_store;
  auto record = [&](pqxx::connection_base& conn) {
    pqxx::nontransaction tx{conn};
    if (report.outcome == run_report::status::success)
      store::succeeded(tx, def.name, ms, report.result.items, report.result.summary);
    else
      store::failed(tx, def.name, ms, report.error);
  };
  if (!report.connection_broken) {
    try {
      record(ctx.conn);
    } catch (const pqxx::broken_connection&) {
      report.connection_broken = true;
    } catch (const std::exception& e) {
      log(spdlog::level::warn, "job_state_write_failed", "could not record job state",
          {{"job", def.name}, {"step", "finish"}, {"error", e.what()}});
    }
  }
  if (report.connection_broken) {
    best_effort(def.name, "finish", [&] {
      persistence::connect_options opts;
      opts.application_name = "clean-service job " + def.name;
      record(*persistence::connect(ctx.database_url, opts));
    });
    return;
  }
  best_effort(def.name, "unlock", [&] {
    pqxx::nontransaction tx{ctx.conn};
    store::unlock(tx, def.name);
  });
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
  }
  // From here on the lock is held: finish() releases it on every path.
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
    {
      pqxx::nontransaction tx{ctx.conn};
      store::started(tx, def.name, owner);
    }
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
  finish(def, ctx, report, ms);
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
