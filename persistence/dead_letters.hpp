#pragma once

// The outbox's dead letters as on-call sees them: listing, replay (one, or
// in bulk by kind and time with a dry run), per-queue depths, the sampled
// depths behind the DLQ gauges, and circuit breakers forced by on-call.

#include "persistence/records.hpp"

#include <nlohmann/json_fwd.hpp>

#include <string>
#include <vector>

namespace pqxx {
class transaction_base;
}

namespace clean::persistence {

namespace dead_letters {

/// The kinds of outbox events (the queues).
const std::vector<std::string>& kinds();

/// Newest deaths first: `{"data": [...], "next_cursor": ...}`.
nlohmann::json list(pqxx::transaction_base& tx, const dead_letter_query& q);

/// Back to pending with attempts reset, now. `kind` (if not empty) must be
/// the event's. Throws domain_error: not_found, or conflict when the event
/// is not dead (only dead letters are replayed).
nlohmann::json replay(pqxx::transaction_base& tx, int64_t id, const std::string& kind,
                      const std::string& actor);

nlohmann::json bulk_replay(pqxx::transaction_base& tx, const dead_letter_bulk& q);

/// Per kind: dead count and oldest death, retry and pending counts.
nlohmann::json queues(pqxx::transaction_base& tx);

outbox_depths depths(pqxx::transaction_base& tx);

} // namespace dead_letters

namespace circuit_overrides {
void set(pqxx::transaction_base& tx, const circuit_override& o);
/// True when there was one.
bool clear(pqxx::transaction_base& tx, const std::string& circuit);
std::vector<circuit_override> all(pqxx::transaction_base& tx);
} // namespace circuit_overrides

} // namespace clean::persistence
