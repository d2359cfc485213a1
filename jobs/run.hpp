#pragma once

// One run of one job with its bookkeeping: the advisory lock that keeps it
// from running twice at once anywhere, the persisted state (started,
// heartbeat, success or failure), metrics and the `job_run` log line.

#include "jobs/jobs.hpp"

#include <string>

namespace clean::jobs {

struct run_report {
  enum class status { success, failure, skipped } outcome = status::skipped;
  job_result result;
  std::string error;  // failure: what went wrong; skipped: why
  std::string reason; // failure: job_errors_total's reason label
  double seconds = 0;
  /// The database connection broke: the caller must reconnect.
  bool connection_broken = false;
};

/// Runs `def` now on `ctx.conn` (which must be dedicated to the caller:
/// the advisory lock is per session). `owner` names the runner in state.
run_report run_job(const job_definition& def, job_context& ctx, const std::string& owner);

const char* to_string(run_report::status s);

} // namespace clean::jobs
