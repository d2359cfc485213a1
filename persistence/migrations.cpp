#include "persistence/migrations.hpp"

#include <openssl/sha.h>
#include <pqxx/pqxx>

#include <algorithm>

namespace clean::persistence {

namespace {

// A fixed key for pg_advisory_lock; any instance migrating holds it.
constexpr int64_t migration_lock_key = 0x636c65616e6d6967; // "cleanmig"

constexpr const char* create_ledger = R"sql(
CREATE TABLE IF NOT EXISTS schema_migrations (
  version    bigint PRIMARY KEY,
  name       text NOT NULL,
  checksum   text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
))sql";

constexpr const char* select_applied = R"sql(
SELECT version, name, checksum,
       to_char(applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
FROM schema_migrations ORDER BY version)sql";

constexpr const char* insert_applied =
    "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)";

bool ledger_exists(pqxx::connection_base& db) {
  pqxx::nontransaction tx{db};
  auto r = tx.exec("SELECT to_regclass('schema_migrations') IS NOT NULL");
  return r[0][0].as<bool>();
}

} // namespace

int64_t head_version() {
  auto& all = shipped_migrations();
  return all.empty() ? 0 : all.back().version;
}

std::string checksum(std::string_view sql) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(sql.data()), sql.size(), digest);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (auto b : digest) {
    out += hex[b >> 4];
    out += hex[b & 15];
  }
  return out;
}

migration_status read_migration_status(pqxx::connection_base& db) {
  migration_status st;
  st.head = head_version();
  if (ledger_exists(db)) {
    pqxx::nontransaction tx{db};
    for (auto row : tx.exec(select_applied)) {
      auto version = row[0].as<int64_t>();
      auto shipped = std::find_if(shipped_migrations().begin(), shipped_migrations().end(),
                                  [&](auto& m) { return m.version == version; });
      bool matches =
          shipped == shipped_migrations().end() || checksum(shipped->sql) == row[2].as<std::string>();
      st.applied.push_back({version, row[1].as<std::string>(), row[3].as<std::string>(), matches});
      st.current = std::max(st.current, version);
    }
  }
  for (auto& m : shipped_migrations()) {
    bool done =
        std::any_of(st.applied.begin(), st.applied.end(), [&](auto& a) { return a.version == m.version; });
    if (!done)
      st.pending.push_back(m);
  }
  return st;
}

std::vector<int64_t> apply_migrations(pqxx::connection_base& db,
                                      const std::function<void(const migration&)>& on_applied) {
  {
    pqxx::nontransaction tx{db};
    tx.exec_params("SELECT pg_advisory_lock($1)", migration_lock_key);
  }
  std::vector<int64_t> applied;
  try {
    {
      pqxx::work tx{db};
      tx.exec(create_ledger);
      tx.commit();
    }
    // Read the ledger only after taking the lock: another instance may have
    // finished the work while this one waited.
    for (auto& m : read_migration_status(db).pending) {
      pqxx::work tx{db};
      tx.exec(std::string{m.sql});
      tx.exec_params(insert_applied, m.version, std::string{m.name}, checksum(m.sql));
      tx.commit();
      applied.push_back(m.version);
      if (on_applied)
        on_applied(m);
    }
  } catch (...) {
    pqxx::nontransaction tx{db};
    tx.exec_params("SELECT pg_advisory_unlock($1)", migration_lock_key);
    throw;
  }
  pqxx::nontransaction tx{db};
  tx.exec_params("SELECT pg_advisory_unlock($1)", migration_lock_key);
  return applied;
}

} // namespace clean::persistence
