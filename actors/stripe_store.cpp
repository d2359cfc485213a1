#include "actors/stripe_store.hpp"

#include "actors/interfaces.hpp"
#include "actors/store_results.hpp"
#include "persistence/stripe_events.hpp"

#include <memory>
#include <nlohmann/json.hpp>
#include <pqxx/except>
#include <pqxx/transaction>

namespace clean {

namespace {

/// Each delivery in its own transaction: after a batch failed, so that one
/// bad event cannot fail its neighbours. A lost connection still fails the
/// whole call (the pool reconnects; Stripe retries what was not answered).
stripe_batch_result one_by_one(pqxx::connection_base& conn, const std::vector<std::string>& bodies) {
  stripe_batch_result out;
  out.receipts.resize(bodies.size());
  out.errors.resize(bodies.size());
  for (size_t i = 0; i < bodies.size(); ++i) {
    try {
      pqxx::work tx{conn};
      out.receipts[i] = persistence::stripe_events::receive(tx, bodies[i]);
      tx.commit();
    } catch (const pqxx::broken_connection&) {
      throw;
    } catch (const pqxx::in_doubt_error&) {
      throw;
    } catch (const std::exception& e) {
      out.receipts[i] = {}; // the commit failed: what it would have been is not an outcome
      out.errors[i] = e.what();
    }
  }
  return out;
}

/// Concurrent deliveries share one commit (one WAL flush) instead of paying
/// an fsync each: the group commit that lets ingest outrun one-row inserts.
stripe_batch_result receive_batch(pqxx::connection_base& conn, const std::vector<std::string>& bodies,
                                  persistence::stripe_events::batch_start& start) {
  try {
    stripe_batch_result out;
    out.receipts = persistence::stripe_events::receive_many(conn, bodies, start);
    start = persistence::stripe_events::next_start(out.receipts);
    out.errors.resize(bodies.size());
    return out;
  } catch (const pqxx::broken_connection&) {
    throw;
  } catch (const pqxx::in_doubt_error&) {
    throw; // it may have committed: answer nothing, Stripe retries, the ids dedupe
  } catch (const std::exception&) {
    if (bodies.size() == 1)
      throw; // nothing to isolate: the caller gets the classified error
    return one_by_one(conn, bodies);
  }
}

} // namespace

void prepare_stripe_statements(pqxx::connection_base& conn) {
  persistence::stripe_events::prepare(conn);
}

caf::behavior stripe_store(pqxx::connection_base& conn) {
  auto* c = &conn;
  // This connection's guess at what its next batch holds (behaviors are
  // made again with each new connection, and so is the guess).
  auto start = std::make_shared<persistence::stripe_events::batch_start>();
  return {
      [c, start](stripe_rx_batch_atom, const std::vector<std::string>& bodies) {
        return receive_batch(*c, bodies, *start);
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
