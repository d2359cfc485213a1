#pragma once

#include "actors/interfaces.hpp"

#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include <chrono>
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
};

struct health_state {
  static inline const char* name = "health";
  health_config config;
  db_probe_actor worker;
  bool shutting_down = false;
  bool probe_in_flight = false;
  std::optional<db_probe_result> last;
  caf::actor_clock::time_point last_at;
  std::vector<caf::typed_response_promise<readiness_report>> waiting;
  prometheus::Gauge* database_up = nullptr;
  prometheus::Gauge* migrations_up = nullptr;
};

health_actor::behavior_type health(health_actor::stateful_pointer<health_state> self,
                                   health_config config, db_probe_actor worker);

} // namespace clean
