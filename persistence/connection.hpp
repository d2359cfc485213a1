#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <pqxx/connection>

namespace clean::persistence {

/// Connection options layered on the configured DATABASE_URL.
struct connect_options {
  std::chrono::seconds connect_timeout{3};
  /// Server-side limit for every statement on this connection (0 = none).
  std::chrono::milliseconds statement_timeout{0};
  std::string application_name = "clean-service";
};

/// Appends libpq parameters to a URI or key=value connection string.
std::string with_parameters(const std::string& url, const connect_options& opts);

/// Opens a connection; throws pqxx::broken_connection on failure (callers at
/// the edge translate it). Blocking: never call on an actor scheduler thread.
std::unique_ptr<pqxx::connection> connect(const std::string& url, const connect_options& opts);

/// Removes the password from a connection string so it can be logged.
std::string redact(const std::string& url);

} // namespace clean::persistence
