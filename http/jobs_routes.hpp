#pragma once

#include "http/admin_surface.hpp"
#include "persistence/job_state.hpp"

#include <caf/actor.hpp>

#include <chrono>
#include <functional>
#include <vector>

namespace clean::http {

struct jobs_routes_config {
  std::vector<persistence::job_store::job_info> jobs;
  int64_t heartbeat_ttl_seconds = 300;
  std::function<caf::actor()> pool;
  std::chrono::milliseconds request_timeout{10000};
  /// Makes the local job actor look at its row now (no-op without one).
  std::function<void(const std::string&)> poke;
};

/// GET /v1/admin/jobs/status and POST /v1/admin/jobs/{name}/run|pause|resume.
/// The state lives in PostgreSQL, so any instance answers for every runner.
void install_jobs_routes(admin_surface& admin, route_table& routes, jobs_routes_config config);

} // namespace clean::http
