#include "actors/db_probe.hpp"

#include "persistence/connection.hpp"
#include "persistence/probe.hpp"

namespace clean {

namespace {

int64_t steady_now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

db_probe_result run_probe(db_probe_state& st, std::chrono::milliseconds budget) {
  auto start = std::chrono::steady_clock::now();
  auto outcome = st.probe->run(budget);
  db_probe_result out;
  out.ok = outcome.ok;
  out.schema_version = outcome.schema_version;
  out.error = std::move(outcome.error);
  out.latency_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  return out;
}

} // namespace

db_probe_state::db_probe_state() = default;
db_probe_state::~db_probe_state() = default;

db_probe_actor::behavior_type db_probe(supervised_pointer<db_probe_actor, db_probe_state> self,
                                       db_probe_config config, supervised_context ctx) {
  persistence::connect_options opts;
  opts.application_name = "clean-service readiness";
  opts.statement_timeout = config.timeout;
  self->state.probe =
      std::make_unique<persistence::schema_probe>(persistence::with_parameters(config.database_url, opts));
  self->state.config = std::move(config);
  self->state.supervision = std::move(ctx);
  supervise(self, self->state.supervision);
  return {
      [self](beat_atom) { beat(self, self->state.supervision); },
      [self](probe_atom, int64_t deadline_ns) -> db_probe_result {
        auto left = std::chrono::nanoseconds{deadline_ns - steady_now_ns()};
        if (left.count() <= 0) {
          // Queued behind a slow probe; its caller has already given up.
          return db_probe_result{false, 0, 0, "skipped: the caller's deadline passed while queued"};
        }
        return run_probe(self->state, std::chrono::duration_cast<std::chrono::milliseconds>(left));
      },
  };
}

} // namespace clean
