#pragma once

#include "actors/interfaces.hpp"

#include <caf/actor.hpp>

#include <memory>
#include <vector>

namespace caf {
class actor_system;
}

namespace clean::config {
struct settings;
}

namespace clean::telemetry {
class metrics_registry;
}

namespace clean::supervision {

/// The service's actors, spawned in dependency order and stopped in reverse.
/// For now a flat set (the DB probe worker and the health aggregator); the
/// supervisor issue turns this into a restarting OTP-style tree without
/// changing what `application` sees.
class tree {
public:
  tree(caf::actor_system& system, const config::settings& settings,
               telemetry::metrics_registry& metrics);
  ~tree();

  tree(const tree&) = delete;
  tree& operator=(const tree&) = delete;

  health_actor health() const { return health_; }

  /// Marks the service as shutting down: /readyz answers 503 from now on.
  void begin_drain();

  /// Stops every actor (reverse spawn order). Idempotent.
  void shutdown();

private:
  caf::actor_system& system_;
  db_probe_actor probe_worker_;
  health_actor health_;
  bool stopped_ = false;
};

} // namespace clean::supervision
