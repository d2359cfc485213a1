#pragma once

// The client API's database work: the handlers a pooled connection runs for
// API payloads (the list is in interfaces.hpp, next to db_call). Each write
// is one transaction holding the change, its outbox events and its
// idempotency record; reads run without BEGIN/COMMIT round trips.

#include <caf/behavior.hpp>

namespace pqxx {
class connection_base;
}

namespace clean {

/// Prepares the API's hot statements on a fresh connection.
void prepare_api_statements(pqxx::connection_base& conn);

struct api_store_options {
  /// INTEGRATION_WEBHOOK_URL is set: booking.created|completed|cancelled and
  /// invoice.created also queue a `webhook` outbox event.
  bool webhooks = false;
};

/// Handlers bound to `conn`; they throw persistence::domain_error for
/// business-rule refusals and pqxx exceptions for database failures (the
/// connection actor translates both).
caf::behavior api_store(pqxx::connection_base& conn, api_store_options opts = {});

} // namespace clean
