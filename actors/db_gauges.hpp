#pragma once

// Samples gauges that only the database can answer (open break-glass
// sessions, later queue depths) on an interval, through the pool, so every
// instance exports the same shared truth. A `tick_atom` from anyone asks
// for a fresh sample now (e.g. right after a break-glass session starts).

#include "actors/interfaces.hpp"

#include <caf/event_based_actor.hpp>

#include <chrono>
#include <functional>

namespace clean {

struct db_gauges_config {
  std::chrono::milliseconds interval{5000};
  /// Budget of one sample (waiting for a connection included).
  std::chrono::milliseconds timeout{5000};
  /// The current pool (it may be restarting: then null).
  std::function<caf::actor()> pool;
  /// Applies a sample to the exported gauges.
  std::function<void(const persistence::db_gauge_sample&)> publish;
};

struct db_gauges_state {
  static inline const char* name = "db-gauges";
  db_gauges_config config;
  supervised_context supervision;
  bool in_flight = false;
  /// A tick arrived while sampling: sample again once this one is back.
  bool again = false;
};

using db_gauges_pointer = caf::stateful_actor<db_gauges_state, instrumented<caf::event_based_actor>>*;

caf::behavior db_gauges(db_gauges_pointer self, db_gauges_config config, supervised_context ctx);

} // namespace clean
