#pragma once

#include "http/admin_surface.hpp"

#include <caf/actor.hpp>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace clean::telemetry {
struct stripe_metrics;
}

namespace clean::http {

struct stripe_routes_config {
  /// STRIPE_WEBHOOK_SECRET: every accepted signing secret.
  std::vector<std::string> secrets;
  std::chrono::seconds tolerance{300};
  /// The Stripe webhook actor (null while it restarts).
  std::function<caf::actor()> webhook;
  std::function<caf::actor()> pool;
  std::chrono::milliseconds request_timeout{10000};
  /// STRIPE_WEBHOOK_SETTLED_CACHE: final events each event loop remembers,
  /// each for at most `settled_max_age`.
  size_t settled_cache = 0;
  std::chrono::steady_clock::duration settled_max_age = std::chrono::minutes(10);
  const telemetry::stripe_metrics* metrics = nullptr;
};

///   POST /v1/webhooks/stripe                     Stripe's deliveries (signature-checked, no API key)
///   GET  /v1/admin/webhooks/events               stored events (?status=, ?limit=, ?cursor=)
///   POST /v1/admin/webhooks/events/{id}/replay   apply a stored event again
void install_stripe_routes(admin_surface& admin, route_table& routes, stripe_routes_config config);

} // namespace clean::http
