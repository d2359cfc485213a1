#include "persistence/probe.hpp"

#include <pqxx/pqxx>

namespace clean::persistence {

int64_t probe_schema_version(pqxx::connection& db) {
  pqxx::nontransaction tx{db};
  try {
    return tx.exec("SELECT coalesce(max(version), 0) FROM schema_migrations")[0][0].as<int64_t>();
  } catch (const pqxx::undefined_table&) {
    // The server answered: it is up, nothing has been migrated yet.
    return 0;
  }
}

} // namespace clean::persistence
