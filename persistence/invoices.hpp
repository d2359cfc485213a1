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

/// Invoices for bookings. Creating one queues its email and export.
class invoices {
public:
  static void prepare(pqxx::connection_base& conn);
  /// Unknown booking: domain_error(invalid); cancelled booking or a payment
  /// intent id already used: domain_error(conflict).
  static nlohmann::json create(pqxx::transaction_base& tx, const invoice_input& in);
  /// Records by id in one statement: each id's, or nullopt where unknown.
  static std::vector<std::optional<nlohmann::json>> get_many(pqxx::transaction_base& tx,
                                                             const std::vector<int64_t>& ids);
  static nlohmann::json list(pqxx::transaction_base& tx, const list_query& q);
};

/// Survey answers arriving through the emailed link.
class nps {
public:
  static void prepare(pqxx::connection_base& conn);
  /// Unknown token: domain_error(not_found); answered before: conflict.
  static nlohmann::json answer(pqxx::transaction_base& tx, const nps_input& in);
};

} // namespace clean::persistence
