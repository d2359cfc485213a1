#pragma once

#include <cstdint>

namespace pqxx {
class connection;
}

namespace clean::persistence {

/// The readiness probe's one round trip: the applied schema version, which
/// also proves the server answers queries. 0 when nothing is migrated yet.
/// Blocking; throws pqxx errors.
int64_t probe_schema_version(pqxx::connection& db);

} // namespace clean::persistence
