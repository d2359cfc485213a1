#pragma once

#include "actors/interfaces.hpp"

#include <caf/typed_event_based_actor.hpp>

#include <chrono>
#include <memory>
#include <string>

namespace pqxx {
class connection;
}

namespace clean {

struct db_probe_config {
  std::string database_url;
  /// Server-side statement timeout of the probe query.
  std::chrono::milliseconds statement_timeout{1000};
};

struct db_probe_state {
  static inline const char* name = "db-probe";
  db_probe_config config;
  /// Kept open between probes; dropped on any error and reopened next time.
  std::unique_ptr<pqxx::connection> connection;
  ~db_probe_state();
};

/// Must be spawned with `caf::detached`: every probe blocks on libpq.
db_probe_actor::behavior_type db_probe(db_probe_actor::stateful_pointer<db_probe_state> self,
                                       db_probe_config config);

} // namespace clean
