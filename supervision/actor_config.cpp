#include "supervision/actor_config.hpp"

#include "supervision/handoff_scheduling.hpp"

#include <caf/scheduler/coordinator.hpp>

namespace clean::supervision {

namespace {

/// Messages an actor handles per turn before it goes to the back of the
/// queue. Bounds how long an actor in a hand-off slot waits for the turn
/// ahead of it, and how long one busy mailbox holds a worker; CAF's default
/// is unbounded. Turns of 1,000 made the synthetic fan-in benchmark 30 %
/// faster but every database path of the service slower (docs/BENCHMARKS.md).
constexpr size_t max_throughput = 100;

} // namespace

caf::actor_system_config actor_config(const config::settings& s) {
  caf::actor_system_config cfg;
  // Work sharing parks idle workers on a condition variable (CAF's default
  // work stealing polls, which on a 2-core box takes CPU from the HTTP event
  // loop); the hand-off slot keeps an actor's answer on its core.
  cfg.load<caf::scheduler::coordinator<handoff_sharing>>();
  cfg.set("scheduler.max-threads", static_cast<size_t>(s.actor_threads));
  cfg.set("scheduler.max-throughput", max_throughput);
  return cfg;
}

} // namespace clean::supervision
