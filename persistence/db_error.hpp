#pragma once

#include <exception>
#include <string>

namespace clean::persistence {

/// Why a database call failed, as counted in `db_errors_total{kind}`.
enum class db_failure {
  connection,    // the connection broke (server restart, terminated backend, network)
  timeout,       // statement_timeout or a cancel after the caller's deadline
  serialization, // serialization failure or deadlock: safe to retry
  constraint,    // a constraint the code did not anticipate
  in_doubt,      // the connection broke during COMMIT: outcome unknown
  query,         // any other server or client-side error
};

struct classified_failure {
  db_failure kind = db_failure::query;
  std::string message;
  /// The connection must be replaced.
  bool broken = false;
};

/// Classifies the exception currently being handled (call inside `catch`).
classified_failure classify_current_exception();

const char* failure_name(db_failure f);

} // namespace clean::persistence
