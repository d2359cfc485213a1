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

/// Customers: create, read, list.
class customers {
public:
  static void prepare(pqxx::connection_base& conn);
  static nlohmann::json create(pqxx::transaction_base& tx, const customer_input& in);
  /// Throws domain_error(not_found).
  /// Records by id in one statement: each id's, or nullopt where unknown.
  static std::vector<std::optional<nlohmann::json>> get_many(pqxx::transaction_base& tx,
                                                             const std::vector<int64_t>& ids);
  static nlohmann::json list(pqxx::transaction_base& tx, const list_query& q);
};

} // namespace clean::persistence
