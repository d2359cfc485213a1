#pragma once

#include "persistence/records.hpp"

#include <nlohmann/json.hpp>

#include <optional>
#include <vector>

namespace pqxx {
class connection_base;
class transaction_base;
} // namespace pqxx

namespace clean::persistence {

/// Bookings and their life cycle: scheduled -> completed | cancelled.
/// Every change writes its follow-up work (outbox events, the NPS survey)
/// in the caller's transaction.
class bookings {
public:
  static void prepare(pqxx::connection_base& conn);
  /// Throws domain_error(invalid) when the customer does not exist.
  static nlohmann::json create(pqxx::transaction_base& tx, const booking_input& in);
  /// Records by id in one statement: each id's, or nullopt where unknown.
  static std::vector<std::optional<nlohmann::json>> get_many(pqxx::transaction_base& tx,
                                                             const std::vector<int64_t>& ids);
  static nlohmann::json list(pqxx::transaction_base& tx, const list_query& q);
  /// Only a scheduled booking can be completed or cancelled: otherwise
  /// domain_error(conflict); unknown id: domain_error(not_found).
  static nlohmann::json complete(pqxx::transaction_base& tx, int64_t id);
  static nlohmann::json cancel(pqxx::transaction_base& tx, int64_t id);
};

} // namespace clean::persistence
