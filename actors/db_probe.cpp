#include "actors/db_probe.hpp"

#include "persistence/connection.hpp"
#include "persistence/probe.hpp"

#include <pqxx/pqxx>

namespace clean {

namespace {

int64_t steady_now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
           std::chrono::steady_clock::now().time_since_epoch())
    .count();
}

db_probe_result run_probe(db_probe_state& st) {
  db_probe_result out;
  auto start = std::chrono::steady_clock::now();
  try {
    if (!st.connection || !st.connection->is_open()) {
      persistence::connect_options opts;
      opts.connect_timeout = std::chrono::seconds{2};
      opts.statement_timeout = st.config.statement_timeout;
      opts.application_name = "clean-service readiness";
      st.connection = persistence::connect(st.config.database_url, opts);
    }
    out.schema_version = persistence::probe_schema_version(*st.connection);
    out.ok = true;
  } catch (const std::exception& e) {
    st.connection.reset();
    out.error = e.what();
    while (!out.error.empty() && (out.error.back() == '\n' || out.error.back() == ' '))
      out.error.pop_back();
  }
  out.latency_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  return out;
}

} // namespace

db_probe_state::~db_probe_state() = default;

db_probe_actor::behavior_type db_probe(db_probe_actor::stateful_pointer<db_probe_state> self,
                                       db_probe_config config) {
  self->state.config = std::move(config);
  return {
    [self](probe_atom, int64_t deadline_ns) -> db_probe_result {
      if (steady_now_ns() > deadline_ns) {
        // Queued behind a probe that hung; its caller has already given up.
        return db_probe_result{false, 0, 0, "skipped: caller's deadline passed while queued"};
      }
      return run_probe(self->state);
    },
  };
}

} // namespace clean
