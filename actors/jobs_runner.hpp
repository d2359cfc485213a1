#pragma once

// The jobs runner's own heartbeat (job="jobs-runner"): on every beat it
// tells its supervisor, /readyz (jobs_health) and the gauges it is alive,
// and records itself in job_runners through the pool so other instances
// and `jobs status` see it.

#include "actors/interfaces.hpp"

#include <caf/event_based_actor.hpp>

#include <functional>
#include <memory>
#include <string>

namespace clean::telemetry {
struct jobs_metrics;
}

namespace clean {

struct jobs_runner_config {
  std::string instance; // "host:pid"
  std::string host;
  int pid = 0;
  int64_t started_at = 0; // unix micros
  std::function<caf::actor()> pool;
  std::chrono::milliseconds db_timeout{5000};
  const telemetry::jobs_metrics* metrics = nullptr;
  std::shared_ptr<jobs_health> health;
};

struct jobs_runner_state {
  static inline const char* name = "jobs-runner";
  jobs_runner_state() = default;
  jobs_runner_config config;
  supervised_context supervision;
  bool write_in_flight = false;
};

using jobs_runner_pointer = caf::stateful_actor<jobs_runner_state, instrumented<caf::event_based_actor>>*;

caf::behavior jobs_runner(jobs_runner_pointer self, jobs_runner_config config, supervised_context ctx);

} // namespace clean
