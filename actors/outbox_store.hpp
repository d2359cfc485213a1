#pragma once

// On-call's work on the outbox that runs on pooled connections: dead-letter
// listing and replays, queue depths, circuit overrides. Payloads are listed
// in interfaces.hpp.

#include <caf/behavior.hpp>

namespace pqxx {
class connection_base;
}

namespace clean {

caf::behavior outbox_store(pqxx::connection_base& conn);

} // namespace clean
