#pragma once

#include "http/admin_surface.hpp"

#include <caf/actor.hpp>

#include <chrono>
#include <functional>
#include <memory>

namespace clean {
class circuit_board;
}

namespace clean::http {

struct delivery_routes_config {
  std::function<caf::actor()> pool;
  std::chrono::milliseconds request_timeout{10000};
  /// The local actor owning circuit `name` ("email", "sms"); null where
  /// this process does not call that provider.
  std::function<caf::actor(const std::string& name)> circuit_owner;
  /// Breaker snapshots published by the actors owning them.
  std::shared_ptr<const circuit_board> board;
  /// Asks for a fresh sample of the DLQ gauges after a replay.
  std::function<void()> refresh_gauges;
};

/// The outbox's dead letters and the circuit breakers, for on-call:
///   GET  /v1/admin/outbox/dead-letter              (?kind=&limit=&cursor=)
///   POST /v1/admin/outbox/dead-letter/replay       (?kind=&from=&to=&limit=&dry_run=)
///   POST /v1/admin/outbox/{event_id}/replay
///   POST /v1/admin/export-dead-letter/{id}/replay
///   GET  /v1/admin/queues/dead-letter
///   GET  /v1/admin/circuits
///   POST /v1/admin/circuits/{name}/force-open|force-closed|reset
void install_delivery_routes(admin_surface& admin, route_table& routes, delivery_routes_config config);

} // namespace clean::http
