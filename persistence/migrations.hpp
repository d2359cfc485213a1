#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace pqxx {
class connection_base;
}

namespace clean::persistence {

/// One SQL file from migrations/, compiled into the binary so a deployed
/// service always carries exactly the schema it was built for.
struct migration {
  int64_t version;
  std::string_view name;
  std::string_view sql;
};

/// Every shipped migration, ordered by version.
const std::vector<migration>& shipped_migrations();

/// The highest shipped version (what `/readyz` calls `head`).
int64_t head_version();

struct applied_migration {
  int64_t version;
  std::string name;
  std::string applied_at;
  bool checksum_matches;
};

struct migration_status {
  std::vector<applied_migration> applied;
  std::vector<migration> pending;
  int64_t current = 0;
  int64_t head = 0;
  bool at_head() const { return pending.empty() && current >= head; }
};

/// Reads what has been applied. Blocking.
migration_status read_migration_status(pqxx::connection_base& db);

/// Applies pending migrations, each in its own transaction, while holding a
/// PostgreSQL advisory lock so concurrent instances migrate one at a time
/// (the second finds nothing left to do). Returns the versions it applied.
std::vector<int64_t> apply_migrations(pqxx::connection_base& db,
                                      const std::function<void(const migration&)>& on_applied);

/// Hex SHA-256 of a migration's SQL, stored to detect edited history.
std::string checksum(std::string_view sql);

} // namespace clean::persistence
