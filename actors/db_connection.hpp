#pragma once

// One pooled database connection, as a `detached` actor: it owns its libpq
// connection and thread, so the blocking calls it makes never occupy a CAF
// scheduler thread. It runs db_task payloads through its handlers (e.g.
// api_store) and reports every outcome to the pool (db_pool.hpp).

#include "actors/db_pool.hpp"
#include "persistence/connection.hpp"

#include <caf/behavior.hpp>
#include <caf/stateful_actor.hpp>

#include <functional>
#include <memory>
#include <string>
#include <unordered_map>

namespace prometheus {
class Histogram;
}

namespace clean {

struct db_connection_config {
  std::string database_url;
  persistence::connect_options options;
  /// Registers prepared statements on a fresh connection.
  std::function<void(pqxx::connection_base&)> prepare;
  /// The payloads this connection understands, bound to it.
  std::function<caf::behavior(pqxx::connection_base&)> handlers;
  const telemetry::db_metrics* metrics = nullptr;
};

struct db_connection_state {
  static inline const char* name = "db-connection";
  uint64_t slot = 0;
  caf::actor pool;
  db_connection_config config;
  std::shared_ptr<pqxx::connection> conn;
  caf::behavior handlers;
  std::unordered_map<std::string, prometheus::Histogram*> durations;
  db_connection_state();
  ~db_connection_state();
};

using db_connection_pointer = caf::stateful_actor<db_connection_state>*;

/// Spawn `detached`. Connects first; reports db_connected or
/// db_connect_failed (then stops) to `pool`.
caf::behavior db_connection(db_connection_pointer self, uint64_t slot, caf::actor pool,
                            db_connection_config config);

} // namespace clean
