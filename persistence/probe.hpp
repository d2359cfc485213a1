#pragma once

#include <chrono>
#include <cstdint>
#include <string>

struct pg_conn;

namespace clean::persistence {

struct probe_outcome {
  bool ok = false;
  /// Highest applied migration; 0 when nothing is migrated yet.
  int64_t schema_version = 0;
  std::string error;
};

/// The readiness probe's connection. Unlike a libpqxx connection, every
/// step (connect, send, wait for the answer) is non-blocking and bounded by
/// a deadline, so a hung or SIGSTOPped server costs at most the timeout and
/// never wedges the thread that runs the probe.
class schema_probe {
public:
  /// `conninfo` is a libpq URI or key=value string.
  explicit schema_probe(std::string conninfo);
  ~schema_probe();

  schema_probe(const schema_probe&) = delete;
  schema_probe& operator=(const schema_probe&) = delete;

  /// One round trip: (re)connects when needed and reads the applied schema
  /// version. On any failure the connection is dropped and reopened next time.
  probe_outcome run(std::chrono::milliseconds timeout);

private:
  void drop();
  std::string conninfo_;
  pg_conn* conn_ = nullptr;
};

} // namespace clean::persistence
