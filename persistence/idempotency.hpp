#pragma once

#include "persistence/records.hpp"

#include <optional>

namespace pqxx {
class connection_base;
class transaction_base;
} // namespace pqxx

namespace clean::persistence {

/// Idempotency-Key records. Inside the transaction of the write:
///   1. `claim` inserts the key (a concurrent retry blocks on it until the
///      first commits, then sees its answer);
///   2. the write runs;
///   3. `record` stores the answer, committed together with the write.
/// A write that fails rolls back, claim included, so a retry runs afresh.
class idempotency {
public:
  static void prepare(pqxx::connection_base& conn);

  /// nullopt: the key is new, go ahead. Otherwise the stored answer
  /// (`replayed` set). Throws domain_error(invalid) when the key was used
  /// for a different request.
  static std::optional<api_result> claim(pqxx::transaction_base& tx, const write_context& w);

  static void record(pqxx::transaction_base& tx, const write_context& w, const api_result& answer);
};

} // namespace clean::persistence
