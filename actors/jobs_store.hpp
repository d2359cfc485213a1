#pragma once

// The jobs' database work that runs on pooled connections (the runner's
// heartbeat, the admin API's status and controls); payloads are listed in
// interfaces.hpp. Job runs themselves use each job's own connection.

#include <caf/behavior.hpp>

namespace pqxx {
class connection_base;
}

namespace clean {

caf::behavior jobs_store(pqxx::connection_base& conn);

} // namespace clean
