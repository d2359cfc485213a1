#include "actors/admin_store.hpp"

#include "actors/interfaces.hpp"
#include "actors/store_results.hpp"
#include "persistence/admin.hpp"
#include "persistence/dead_letters.hpp"

#include <nlohmann/json.hpp>
#include <pqxx/nontransaction>
#include <pqxx/transaction>

namespace clean {

namespace {

using namespace persistence;

} // namespace

void prepare_admin_statements(pqxx::connection_base& conn) {
  break_glass::prepare(conn);
  audit::prepare(conn);
}

caf::behavior admin_store(pqxx::connection_base& conn) {
  auto* c = &conn;
  return {
      [c](bg_start_atom, const break_glass_start& req) {
        return in_transaction(*c, 201, [&](pqxx::work& tx) { return break_glass::start(tx, req); });
      },
      [c](bg_list_atom, bool all) {
        return read(*c, [&](pqxx::transaction_base& tx) { return break_glass::list(tx, all); });
      },
      [c](bg_end_atom, const break_glass_end& req) {
        return in_transaction(*c, 200, [&](pqxx::work& tx) { return break_glass::end(tx, req); });
      },
      [c](bg_use_atom, const std::string& token_hash) {
        pqxx::work tx{*c};
        auto grant = break_glass::use(tx, token_hash);
        tx.commit();
        return grant;
      },
      [c](audit_atom, const admin_audit_entry& entry) {
        pqxx::nontransaction tx{*c};
        audit::insert(tx, entry);
        return true;
      },
      [c](audit_list_atom, const audit_query& q) {
        return read(*c, [&](pqxx::transaction_base& tx) { return audit::list(tx, q); });
      },
      [c](gauges_atom) {
        pqxx::nontransaction tx{*c};
        db_gauge_sample out;
        out.break_glass_active = break_glass::count_open(tx);
        out.outbox = dead_letters::depths(tx);
        out.circuit_overrides = circuit_overrides::all(tx);
        return out;
      },
  };
}

} // namespace clean
