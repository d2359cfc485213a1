#pragma once

#include "actors/interfaces.hpp"
#include "http/auth.hpp"
#include "http/exchange.hpp"

#include <caf/actor.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>

namespace clean::telemetry {
class metrics_registry;
}

namespace clean::http {

struct ops_config {
  std::string version;
  metrics_access_policy metrics_access;
  /// Upper bound for a /readyz answer; the health actor answers sooner.
  std::chrono::milliseconds readyz_timeout{1000};
  /// The root supervisor, asked for the tree's health by /readyz (may be
  /// null in tests: the supervisor check is then left out).
  caf::actor supervision_root;
  /// Shipped schema version, for reports made without the health actor.
  int64_t migrations_head = 0;
};

/// The operational endpoints: /healthz, /livez, /readyz, /metrics.
///
/// /healthz never touches an actor or the database: it answers while the
/// process can serve HTTP at all. /metrics renders on its own thread so a
/// large scrape never stalls an event loop.
class ops_routes {
public:
  /// `find_health` returns the current health actor (it may be restarting).
  ops_routes(ops_config config, std::function<health_actor()> find_health,
             const telemetry::metrics_registry& metrics);
  ~ops_routes();

  ops_routes(const ops_routes&) = delete;
  ops_routes& operator=(const ops_routes&) = delete;

  void install(route_table& routes);

  struct impl;

private:
  std::shared_ptr<impl> impl_;
};

} // namespace clean::http
