#pragma once

#include "actors/interfaces.hpp"

#include <caf/typed_event_based_actor.hpp>

#include <chrono>
#include <memory>
#include <string>

namespace clean::persistence {
class schema_probe;
}

namespace clean {

struct db_probe_config {
  std::string database_url;
  /// Upper bound for one probe (the caller's deadline usually cuts it
  /// shorter); also the server-side statement timeout.
  std::chrono::milliseconds timeout{1000};
};

struct db_probe_state {
  static inline const char* name = "db-probe";
  db_probe_config config;
  supervised_context supervision;
  /// Kept open between probes; dropped on any error and reopened next time.
  std::unique_ptr<persistence::schema_probe> probe;
  db_probe_state();
  ~db_probe_state();
};

/// Spawned `detached`: a probe waits on the network (bounded by the
/// caller's deadline) and must not occupy a scheduler thread meanwhile.
db_probe_actor::behavior_type db_probe(supervised_pointer<db_probe_actor, db_probe_state> self,
                                       db_probe_config config, supervised_context ctx);

} // namespace clean
