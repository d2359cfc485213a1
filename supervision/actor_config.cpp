#include "supervision/actor_config.hpp"

namespace clean::supervision {

caf::actor_system_config actor_config(const config::settings& s) {
  caf::actor_system_config cfg;
  // The sharing policy parks idle workers on a condition variable; the
  // default work-stealing one polls, which on a 2-core box takes CPU from
  // the HTTP event loop.
  cfg.set("scheduler.policy", caf::atom("sharing"));
  cfg.set("scheduler.max-threads", static_cast<size_t>(s.actor_threads));
  return cfg;
}

} // namespace clean::supervision
