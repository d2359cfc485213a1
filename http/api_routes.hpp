#pragma once

#include "http/exchange.hpp"

#include <caf/actor.hpp>

#include <chrono>
#include <functional>

namespace clean::telemetry {
struct api_metrics;
}

namespace clean::http {

struct api_config {
  /// The current database pool (it is replaced when restarted); null while
  /// it is down.
  std::function<caf::actor()> pool;
  /// Budget of one API request inside the service: waiting for a
  /// connection plus the query (the pool cancels queries past it).
  std::chrono::milliseconds request_timeout{10000};
  /// How long a verified API key is trusted without asking the database:
  /// the longest a revoked key keeps working (0 = always ask).
  std::chrono::milliseconds key_cache_ttl{5000};
  /// Per event loop: reads by id that arrive while this many batches of
  /// them are at the database wait and go together in the next one.
  int read_batches_in_flight = 2;
  const telemetry::api_metrics* metrics = nullptr;
};

/// The client API under /v1 (customers, bookings, invoices, NPS answers),
/// authenticated with `Authorization: Bearer <API key>` except the NPS
/// link, whose token is its credential.
void install_api_routes(route_table& routes, api_config config);

} // namespace clean::http
