#include "supervision/tree.hpp"

#include "actors/db_probe.hpp"
#include "actors/health.hpp"
#include "config/settings.hpp"
#include "persistence/migrations.hpp"
#include "telemetry/metrics.hpp"

#include <caf/actor_system.hpp>
#include <caf/send.hpp>

namespace clean::supervision {

tree::tree(caf::actor_system& system, const config::settings& settings,
                           telemetry::metrics_registry& metrics)
  : system_(system) {
  db_probe_config probe_cfg;
  probe_cfg.database_url = settings.database_url;
  probe_cfg.timeout = settings.readyz_db_timeout;
  // Detached: each probe blocks on libpq and must not hold a scheduler thread.
  probe_worker_ = system.spawn<caf::detached>(db_probe, probe_cfg);

  health_config health_cfg;
  health_cfg.probe_timeout = settings.readyz_db_timeout;
  health_cfg.migrations_head = persistence::head_version();
  health_cfg.metrics = &metrics.health();
  health_ = system.spawn(clean::health, health_cfg, probe_worker_);
}

tree::~tree() { shutdown(); }

void tree::begin_drain() { caf::anon_send(health_, drain_atom::value); }

void tree::shutdown() {
  if (stopped_)
    return;
  stopped_ = true;
  caf::anon_send_exit(health_, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(probe_worker_, caf::exit_reason::user_shutdown);
}

} // namespace clean::supervision
