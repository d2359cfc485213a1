#include "actors/outbox_store.hpp"

#include "actors/interfaces.hpp"
#include "persistence/dead_letters.hpp"

#include <nlohmann/json.hpp>
#include <pqxx/nontransaction>
#include <pqxx/transaction>

namespace clean {

namespace {

using namespace persistence;

template <class Change>
api_result in_transaction(pqxx::connection_base& conn, Change&& change) {
  pqxx::work tx{conn};
  api_result out{200, change(tx).dump(), false};
  tx.commit();
  return out;
}

template <class Read>
api_result read(pqxx::connection_base& conn, Read&& query) {
  pqxx::nontransaction tx{conn};
  return {200, query(tx).dump(), false};
}

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
            *c, [&](pqxx::transaction_base& tx) { return dead_letters::replay(tx, id, kind, actor); });
      },
      [c](dlq_bulk_atom, const dead_letter_bulk& q) {
        return in_transaction(*c,
                              [&](pqxx::transaction_base& tx) { return dead_letters::bulk_replay(tx, q); });
      },
      [c](queues_atom) {
        return read(*c, [&](pqxx::transaction_base& tx) { return dead_letters::queues(tx); });
      },
      [c](circuit_set_atom, const circuit_override& o) {
        return in_transaction(*c, [&](pqxx::transaction_base& tx) {
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
