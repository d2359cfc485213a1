#pragma once

// The admin surface's database work, run by pooled connections next to the
// API's handlers: break-glass sessions, the audit log and the gauges only
// the database can answer (payloads listed in interfaces.hpp).

#include <caf/behavior.hpp>

namespace pqxx {
class connection_base;
}

namespace clean {

void prepare_admin_statements(pqxx::connection_base& conn);

/// Handlers bound to `conn`; business refusals are thrown as
/// persistence::domain_error and translated by the connection actor.
caf::behavior admin_store(pqxx::connection_base& conn);

} // namespace clean
