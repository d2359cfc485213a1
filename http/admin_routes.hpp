#pragma once

#include "http/exchange.hpp"

#include <caf/actor.hpp>

namespace clean::http {

struct admin_config {
  /// Until the admin issue adds authentication, the admin API only exists
  /// outside production.
  bool production = false;
  /// Crash/hang drills (FAULT_INJECTION=1; never in production).
  bool fault_injection = false;
  caf::actor supervision_root;
};

/// GET /v1/admin/supervisor (the tree as JSON) and
/// POST /v1/admin/supervisor/{path...}/crash|hang (drills).
void install_admin_routes(route_table& routes, admin_config config);

} // namespace clean::http
