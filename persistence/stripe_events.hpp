#pragma once

// Stripe events: record a verified delivery by its event id and apply its
// effect on the invoice it concerns, in the caller's transaction, so a
// redelivery is a no-op and a failure leaves nothing half-done. State only
// moves forward (open -> paid -> refunded): a late failure after a success
// never reopens an invoice.

#include "persistence/records.hpp"

#include <nlohmann/json_fwd.hpp>

#include <string>
#include <vector>

namespace pqxx {
class transaction_base;
}

namespace clean::persistence {

/// What a delivery came to.
struct stripe_receipt {
  std::string result; // applied | duplicate | ignored | payload_mismatch
  std::string event_id;
  std::string type;
  int64_t invoice_id = 0; // 0 = none
  std::string detail;
};

struct stripe_event_query {
  std::string status; // empty: every status
  int32_t limit = 50;
  std::optional<page_cursor> after;
};

namespace stripe_events {

/// Records and applies one verified delivery (the raw body as signed).
stripe_receipt receive(pqxx::transaction_base& tx, const std::string& raw_body);

/// Records and applies a batch of deliveries in the caller's transaction
/// with one INSERT (which also reads what redelivered ids were stored as)
/// and one settling UPDATE for all (plus what applying each needs): receipts
/// in the order of `raw_bodies`, each what `receive` would have answered had
/// they come one after another.
std::vector<stripe_receipt> receive_many(pqxx::transaction_base& tx,
                                         const std::vector<std::string>& raw_bodies);

/// True when `receive_many` of these bodies is a single statement: every
/// one is a well-formed event of a type that changes no invoice. Then the
/// statement is atomic on its own and needs no BEGIN/COMMIT around it.
bool single_statement(const std::vector<std::string>& raw_bodies);

/// Applies a stored event again (after a fix). Throws domain_error
/// not_found for an unknown id.
stripe_receipt replay(pqxx::transaction_base& tx, const std::string& event_id);

/// Stored events, newest first: `{"data": [...], "next_cursor": ...}`.
nlohmann::json list(pqxx::transaction_base& tx, const stripe_event_query& q);

} // namespace stripe_events

} // namespace clean::persistence
