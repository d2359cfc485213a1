#include "actors/stripe_store.hpp"

#include "actors/interfaces.hpp"
#include "actors/store_results.hpp"
#include "persistence/stripe_events.hpp"

#include <nlohmann/json.hpp>
#include <pqxx/nontransaction>
#include <pqxx/transaction>

namespace clean {

caf::behavior stripe_store(pqxx::connection_base& conn) {
  auto* c = &conn;
  return {
      [c](stripe_rx_atom, const std::string& body) {
        // Serializable is not needed: the event id's primary key makes
        // concurrent deliveries of one event queue behind each other, and
        // the invoice row is locked (FOR UPDATE) by whoever applies it.
        pqxx::work tx{*c};
        auto r = persistence::stripe_events::receive(tx, body);
        tx.commit();
        return r;
      },
      [c](stripe_replay_atom, const std::string& id) {
        pqxx::work tx{*c};
        auto r = persistence::stripe_events::replay(tx, id);
        tx.commit();
        return r;
      },
      [c](stripe_list_atom, const persistence::stripe_event_query& q) {
        return read(*c, [&](pqxx::transaction_base& tx) { return persistence::stripe_events::list(tx, q); });
      },
  };
}

} // namespace clean
