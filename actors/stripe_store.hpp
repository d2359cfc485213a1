#pragma once

// Stripe webhook work on pooled connections: receiving a verified delivery
// (record + effect in one transaction), replaying a stored event, listing
// them. Payloads are listed in interfaces.hpp.

#include <caf/behavior.hpp>

namespace pqxx {
class connection_base;
}

namespace clean {

/// Registers the prepared statements stripe_store uses on a fresh connection.
void prepare_stripe_statements(pqxx::connection_base& conn);

caf::behavior stripe_store(pqxx::connection_base& conn);

} // namespace clean
