#include "actors/outbox_store.hpp"

#include "actors/interfaces.hpp"
#include "actors/store_results.hpp"
#include "persistence/dead_letters.hpp"

#include <nlohmann/json.hpp>
#include <pqxx/nontransaction>
#include <pqxx/transaction>

namespace clean {

namespace {

using namespace persistence;

nlohmann::json override_json(const circuit_override& o, bool cleared) {
  if (cleared)
    return {{"circuit", o.circuit}, {"override", nullptr}};
  return {{"circuit", o.circuit},
          {"override", {{"state", o.state}, {"set_by", o.set_by}, {"reason", o.reason}}}};
}

} // namespace

caf::behavior outbox_store(pqxx::connection_base& conn) {
  auto* c = &conn;
  return {
      [c](dlq_list_atom, const dead_letter_query& q) {
        return read(*c, [&](pqxx::transaction_base& tx) { return dead_letters::list(tx, q); });
      },
      [c](dlq_replay_atom, int64_t id, const std::string& kind, const std::string& actor) {
        return in_transaction(
            *c, 200, [&](pqxx::transaction_base& tx) { return dead_letters::replay(tx, id, kind, actor); });
      },
      [c](dlq_bulk_atom, const dead_letter_bulk& q) {
        return in_transaction(*c, 200,
                              [&](pqxx::transaction_base& tx) { return dead_letters::bulk_replay(tx, q); });
      },
      [c](queues_atom) {
        return read(*c, [&](pqxx::transaction_base& tx) { return dead_letters::queues(tx); });
      },
      [c](circuit_set_atom, const circuit_override& o) {
        return in_transaction(*c, 200, [&](pqxx::transaction_base& tx) {
          if (o.state.empty()) {
            circuit_overrides::clear(tx, o.circuit);
            return override_json(o, true);
          }
          circuit_overrides::set(tx, o);
          return override_json(o, false);
        });
      },
  };
}

} // namespace clean
