#pragma once

#include "config/settings.hpp"

#include <caf/actor_system_config.hpp>

namespace clean::supervision {

/// The actor system configuration of every command that runs actors: the
/// service and `bench mailbox` (so the benchmark measures what serves).
caf::actor_system_config actor_config(const config::settings& s);

} // namespace clean::supervision
