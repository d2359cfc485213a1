#pragma once

// Stripe events: record a verified delivery by its event id and apply its
// effect on the invoice it concerns, in the caller's transaction, so a
// redelivery is a no-op and a failure leaves nothing half-done. State only
// moves forward (open -> paid -> refunded): a late failure after a success
// never reopens an invoice.

#include "persistence/records.hpp"

#include <nlohmann/json_fwd.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pqxx {
class connection_base;
class transaction_base;
} // namespace pqxx

namespace clean::persistence {

/// What a delivery came to.
struct stripe_receipt {
  std::string result; // applied | duplicate | ignored | payload_mismatch
  std::string event_id;
  std::string type;
  int64_t invoice_id = 0; // 0 = none
  std::string detail;
  /// The stored event can no longer change: it was applied (a replay
  /// refuses it) or is of a type we never act on. Every later delivery of
  /// its id is then a duplicate, which the HTTP edge may answer from memory.
  bool final_state = false;
};

/// What a well-formed event is keyed by: its id and type.
struct stripe_event_key {
  std::string id;
  std::string type;
};

struct stripe_event_query {
  std::string status; // empty: every status
  int32_t limit = 50;
  std::optional<page_cursor> after;
};

namespace stripe_events {

/// Records and applies one verified delivery (the raw body as signed).
stripe_receipt receive(pqxx::transaction_base& tx, const std::string& raw_body);

/// How receive_many starts a batch: by inserting its events, or by reading
/// which of their ids are stored already. Every answer is the same either
/// way; only the statements differ. A batch of new events is one INSERT
/// when inserted first and a read plus the INSERT when read first; a batch
/// of redeliveries is one read when read first, and an INSERT that stores
/// nothing plus the read when inserted first.
enum class batch_start { insert_first, read_first };

/// Records, applies and commits a batch of deliveries: one prepared INSERT
/// for the events not stored yet, one read of what the others were stored
/// as (before the INSERT or after it, see batch_start), one settling
/// UPDATE, and what applying each needs. Receipts come in the order of
/// `raw_bodies`, each what `receive` would have answered had they come one
/// after another. A batch with nothing to apply (redeliveries, and events
/// of types that change no invoice) runs without BEGIN/COMMIT: its one
/// INSERT, if any, is atomic on its own.
std::vector<stripe_receipt> receive_many(pqxx::connection_base& conn,
                                         const std::vector<std::string>& raw_bodies,
                                         batch_start start = batch_start::insert_first);

/// The start the next batch on a connection is likely cheaper with, judged
/// by the last one's receipts: read first after a batch of mostly
/// redeliveries (they come in runs: Stripe retries a backlog, or another
/// instance took the first deliveries), insert first otherwise.
batch_start next_start(const std::vector<stripe_receipt>& last);

/// The id and type of a well-formed Stripe event body (the same test
/// `receive` applies), or none: a malformed body is never a known event.
std::optional<stripe_event_key> key_of(const std::string& raw_body);

/// The top-level `id` and `type` of an event body without parsing it into
/// a document: a scan that skips nested values, for telling a redelivery
/// apart on the hot path. Only sure answers: none unless the body is one
/// object whose `id` and `type` are plain strings (no escapes), given once,
/// beside an object `data`. What `data` holds is not looked at, so use it
/// only for an id whose first delivery passed `key_of` (a settled event:
/// Stripe redelivers the same signed bytes); anything else goes the way
/// of `key_of`.
std::optional<stripe_event_key> skim_key(std::string_view raw_body);

/// Registers receive_many's prepared statement on a fresh connection.
void prepare(pqxx::connection_base& conn);

/// Applies a stored event again (after a fix). Throws domain_error
/// not_found for an unknown id.
stripe_receipt replay(pqxx::transaction_base& tx, const std::string& event_id);

/// Stored events, newest first: `{"data": [...], "next_cursor": ...}`.
nlohmann::json list(pqxx::transaction_base& tx, const stripe_event_query& q);

} // namespace stripe_events

} // namespace clean::persistence
