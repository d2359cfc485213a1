#include "persistence/probe.hpp"

#include <libpq-fe.h>
#include <poll.h>

#include <cstring>

namespace clean::persistence {

namespace {

using steady = std::chrono::steady_clock;

constexpr const char* version_query = "SELECT coalesce(max(version), 0) FROM schema_migrations";
constexpr const char* undefined_table = "42P01";

/// Waits until the socket is readable/writable or the deadline passes.
bool wait_socket(int fd, bool for_write, steady::time_point deadline) {
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now()).count();
    if (left <= 0)
      return false;
    pollfd p{fd, static_cast<short>(for_write ? POLLOUT : POLLIN), 0};
    int rc = ::poll(&p, 1, static_cast<int>(left));
    if (rc > 0)
      return true;
    if (rc == 0)
      return false;
    if (errno != EINTR)
      return false;
  }
}

std::string trimmed(const char* msg) {
  std::string s = msg ? msg : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' '))
    s.pop_back();
  return s;
}

} // namespace

schema_probe::schema_probe(std::string conninfo) : conninfo_(std::move(conninfo)) {}

schema_probe::~schema_probe() {
  drop();
}

void schema_probe::drop() {
  if (conn_ != nullptr)
    PQfinish(conn_);
  conn_ = nullptr;
}

probe_outcome schema_probe::run(std::chrono::milliseconds timeout) {
  auto deadline = steady::now() + timeout;
  probe_outcome out;
  auto fail = [&](std::string why) {
    out.ok = false;
    out.error = std::move(why);
    drop();
    return out;
  };
  auto timed_out = [&](const char* stage) {
    return fail(std::string{"no answer from the database within "} + std::to_string(timeout.count()) +
                " ms (" + stage + ")");
  };

  if (conn_ != nullptr && PQstatus(conn_) != CONNECTION_OK)
    drop();
  if (conn_ == nullptr) {
    conn_ = PQconnectStart(conninfo_.c_str());
    if (conn_ == nullptr)
      return fail("out of memory creating a connection");
    if (PQstatus(conn_) == CONNECTION_BAD)
      return fail(trimmed(PQerrorMessage(conn_)));
    auto state = PGRES_POLLING_WRITING;
    while (state != PGRES_POLLING_OK) {
      if (state == PGRES_POLLING_FAILED)
        return fail(trimmed(PQerrorMessage(conn_)));
      if (!wait_socket(PQsocket(conn_), state == PGRES_POLLING_WRITING, deadline))
        return timed_out("connecting");
      state = PQconnectPoll(conn_);
    }
    PQsetnonblocking(conn_, 1);
  }

  if (PQsendQuery(conn_, version_query) != 1)
    return fail(trimmed(PQerrorMessage(conn_)));
  while (true) {
    int flushed = PQflush(conn_);
    if (flushed == 0)
      break;
    if (flushed < 0)
      return fail(trimmed(PQerrorMessage(conn_)));
    if (!wait_socket(PQsocket(conn_), true, deadline))
      return timed_out("sending");
  }

  bool got_value = false;
  while (true) {
    while (PQisBusy(conn_)) {
      if (!wait_socket(PQsocket(conn_), false, deadline))
        return timed_out("waiting for the answer");
      if (PQconsumeInput(conn_) != 1)
        return fail(trimmed(PQerrorMessage(conn_)));
    }
    PGresult* res = PQgetResult(conn_);
    if (res == nullptr)
      break;
    auto status = PQresultStatus(res);
    if (status == PGRES_TUPLES_OK && PQntuples(res) == 1) {
      out.schema_version = std::strtoll(PQgetvalue(res, 0, 0), nullptr, 10);
      got_value = true;
    } else if (status == PGRES_FATAL_ERROR) {
      const char* state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
      if (state != nullptr && std::strcmp(state, undefined_table) == 0) {
        // The server answered; it just has not been migrated yet.
        out.schema_version = 0;
        got_value = true;
      } else {
        out.error = trimmed(PQresultErrorMessage(res));
      }
    }
    PQclear(res);
  }
  if (!got_value)
    return fail(out.error.empty() ? "unexpected answer to the probe query" : out.error);
  out.ok = true;
  return out;
}

} // namespace clean::persistence
