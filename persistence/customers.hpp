#pragma once

#include "persistence/records.hpp"

#include <nlohmann/json.hpp>

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
  static nlohmann::json get(pqxx::transaction_base& tx, int64_t id);
  static nlohmann::json list(pqxx::transaction_base& tx, const list_query& q);
};

} // namespace clean::persistence
