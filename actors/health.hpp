#pragma once

#include "actors/interfaces.hpp"

#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

namespace prometheus {
class Gauge;
}

namespace clean {

namespace telemetry {
struct health_metrics;
}

struct health_config {
  /// A `/readyz` caller never waits longer than this for the database.
  std::chrono::milliseconds probe_timeout{800};
  /// Concurrent or back-to-back `/readyz` calls within this window share one
  /// probe, so a fleet of load balancers cannot turn probes into DB load.
  std::chrono::milliseconds reuse_window{250};
  /// Background refresh so the readiness gauges stay current without traffic
  /// (0 = probe once at start, then only on demand).
  std::chrono::milliseconds refresh_interval{5000};
  int64_t migrations_head = 0;
  /// Optional (tests run without metrics).
  const telemetry::health_metrics* metrics = nullptr;
  /// The current database probe worker. A function, not a handle: the worker
  /// is restarted by its supervisor and comes back as a new actor.
  std::function<db_probe_actor()> find_worker;
  /// Set by the application when shutdown begins. Shared rather than sent,
  /// so an instance restarted during the drain still reports it.
  std::shared_ptr<const std::atomic<bool>> draining;
  /// The jobs runner of this process (null: jobs run elsewhere, --no-jobs).
  std::shared_ptr<const jobs_health> jobs;
};

struct health_state {
  static inline const char* name = "health";
  // Declared so the struct is no aggregate: CAF 0.17 constructs state as
  // State(self) when that compiles, and C++20 paren-init of aggregates
  // would feed the actor pointer into the first member.
  health_state() = default;
  health_config config;
  supervised_context supervision;
  bool shutting_down = false;
  bool probe_in_flight = false;
  std::optional<db_probe_result> last;
  /// What the cached result's age counts from: for a success, when its
  /// probe started (the database is only known to have been up then,
  /// however late the answer is handled); for a failure, when it came.
  caf::actor_clock::time_point last_at;
  caf::actor_clock::time_point probe_started;
  std::vector<caf::typed_response_promise<readiness_report>> waiting;
  prometheus::Gauge* database_up = nullptr;
  prometheus::Gauge* migrations_up = nullptr;
};

health_actor::behavior_type health(supervised_pointer<health_actor, health_state> self, health_config config,
                                   supervised_context ctx);

} // namespace clean
