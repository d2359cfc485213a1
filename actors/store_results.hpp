#pragma once

// How the pooled-connection handlers (api_store, admin_store, outbox_store,
// stripe_store) turn repository JSON into an answer: a change in one
// transaction, a read without BEGIN/COMMIT round trips.

#include "persistence/records.hpp"

#include <nlohmann/json.hpp>
#include <pqxx/nontransaction>
#include <pqxx/transaction>

namespace clean {

template <class Change>
persistence::api_result in_transaction(pqxx::connection_base& conn, uint16_t status, Change&& change) {
  pqxx::work tx{conn};
  persistence::api_result out{status, change(tx).dump(), false};
  tx.commit();
  return out;
}

template <class Read>
persistence::api_result read(pqxx::connection_base& conn, Read&& query) {
  pqxx::nontransaction tx{conn};
  return {200, query(tx).dump(), false};
}

} // namespace clean
