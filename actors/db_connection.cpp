#include "actors/db_connection.hpp"

#include "persistence/db_error.hpp"
#include "persistence/domain_error.hpp"
#include "telemetry/logging.hpp"
#include "telemetry/metrics.hpp"

#include <pqxx/connection>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>

namespace clean {

using telemetry::log;

namespace {

int64_t steady_now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

caf::error from_domain(const persistence::domain_error& e) {
  using kind = persistence::domain_error::kind;
  auto code = errc::invalid;
  switch (e.what_kind()) {
    case kind::not_found:
      code = errc::not_found;
      break;
    case kind::conflict:
      code = errc::conflict;
      break;
    case kind::invalid:
      code = errc::invalid;
      break;
    case kind::unauthenticated:
      code = errc::unauthenticated;
      break;
    case kind::forbidden:
      code = errc::forbidden;
      break;
  }
  return make_error(code, e.code(), e.what(), e.field());
}

caf::error from_failure(const persistence::classified_failure& f, bool deadline_passed) {
  using persistence::db_failure;
  switch (f.kind) {
    case db_failure::timeout:
      return make_error(errc::deadline_exceeded, deadline_passed ? "deadline_exceeded" : "statement_timeout",
                        "the database did not answer in time");
    case db_failure::connection:
      return make_error(errc::database_unavailable, "database_unavailable",
                        "the database connection was lost");
    case db_failure::serialization:
      return make_error(errc::database_unavailable, "retry",
                        "a concurrent change conflicted; retry the request");
    case db_failure::constraint:
      return make_error(errc::conflict, "constraint_violation", "the change conflicts with existing data");
    case db_failure::in_doubt:
      return make_error(errc::database_error, "outcome_unknown",
                        "the connection broke while committing; the change may or may not have been saved");
    case db_failure::query:
      break;
  }
  return make_error(errc::database_error, "database_error", "the database call failed");
}

prometheus::Histogram* duration_histogram(db_connection_state& st, const std::string& op) {
  if (!st.config.metrics)
    return nullptr;
  auto it = st.durations.find(op);
  if (it == st.durations.end())
    it = st.durations
             .emplace(op,
                      &st.config.metrics->query_seconds->Add({{"query", op}}, telemetry::latency_buckets()))
             .first;
  return it->second;
}

void connect(db_connection_pointer self) {
  auto& st = self->state;
  try {
    st.conn =
        std::shared_ptr<pqxx::connection>{persistence::connect(st.config.database_url, st.config.options)};
    if (st.config.prepare)
      st.config.prepare(*st.conn);
    st.handlers = st.config.handlers(*st.conn);
  } catch (const std::exception& e) {
    self->send(st.pool, db_connect_failed{st.slot, e.what()});
    self->quit();
    return;
  }
  // libpq's cancel request travels on a separate connection and only reads
  // what the handshake fixed (address, backend pid and key), so another
  // thread may send it while this one waits for the query.
  std::weak_ptr<pqxx::connection> weak = st.conn;
  self->send(st.pool, db_connected{st.slot, [weak] {
                                     if (auto c = weak.lock()) {
                                       try {
                                         c->cancel_query();
                                       } catch (const std::exception&) {
                                         // The statement finished or the connection broke meanwhile.
                                       }
                                     }
                                   }});
}

void run(db_connection_pointer self, db_task& task) {
  auto& st = self->state;
  db_done done;
  done.slot = st.slot;
  done.seq = task.seq;
  auto start = std::chrono::steady_clock::now();
  if (task.call.deadline_ns > 0 && steady_now_ns() >= task.call.deadline_ns) {
    done.error = make_error(errc::deadline_exceeded, "deadline_exceeded", "the request's deadline passed");
    self->send(st.pool, std::move(done));
    return;
  }
  try {
    auto out = st.handlers(task.call.payload);
    if (out)
      done.result = std::move(*out);
    else
      done.error = make_error(errc::database_error, "unsupported", "no database handler for " + task.call.op);
  } catch (const persistence::domain_error& e) {
    done.error = from_domain(e);
  } catch (...) {
    auto f = persistence::classify_current_exception();
    bool late = task.call.deadline_ns > 0 && steady_now_ns() >= task.call.deadline_ns;
    if (st.config.metrics)
      st.config.metrics->errors->Add({{"kind", persistence::failure_name(f.kind)}}).Increment();
    log(spdlog::level::err, "db_call_failed", "database call failed",
        {{"op", task.call.op},
         {"kind", persistence::failure_name(f.kind)},
         {"error", f.message},
         {"slot", static_cast<int64_t>(st.slot)}});
    done.error = from_failure(f, late);
    done.broken = f.broken || !st.conn->is_open();
    done.retry_safe = f.kind == persistence::db_failure::connection;
  }
  if (auto* h = duration_histogram(st, task.call.op))
    h->Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  bool broken = done.broken;
  self->send(st.pool, std::move(done));
  if (broken)
    self->quit();
}

} // namespace

db_connection_state::db_connection_state() = default;
db_connection_state::~db_connection_state() = default;

caf::behavior db_connection(db_connection_pointer self, uint64_t slot, caf::actor pool,
                            db_connection_config config) {
  auto& st = self->state;
  st.slot = slot;
  st.pool = std::move(pool);
  st.config = std::move(config);
  // Connecting blocks: do it from the mailbox, on this actor's own thread.
  self->send(self, connect_atom::value);
  return {
      [self](connect_atom) { connect(self); },
      [self](db_task& task) { run(self, task); },
  };
}

} // namespace clean
