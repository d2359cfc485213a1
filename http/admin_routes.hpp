#pragma once

#include "http/admin_surface.hpp"

#include <caf/actor.hpp>

namespace clean::http {

struct supervisor_admin_config {
  /// Crash/hang drills (FAULT_INJECTION=1; never in production).
  bool fault_injection = false;
  caf::actor supervision_root;
};

/// GET /v1/admin/supervisor (the tree as JSON) and
/// POST /v1/admin/supervisor/{path...}/crash|hang (drills, admin writes).
void install_supervisor_routes(admin_surface& admin, route_table& routes, supervisor_admin_config config);

} // namespace clean::http
