#include "actors/jobs_runner.hpp"

#include "telemetry/logging.hpp"
#include "telemetry/metrics.hpp"

#include <caf/make_message.hpp>
#include <prometheus/gauge.h>

namespace clean {

namespace {

void tick(jobs_runner_pointer self) {
  auto& st = self->state;
  if (st.config.health)
    st.config.health->runner_beat();
  const auto* series = st.config.metrics ? st.config.metrics->find("jobs-runner") : nullptr;
  if (series)
    series->last_heartbeat->Set(static_cast<double>(
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
            .count()));
  auto pool = st.config.pool ? st.config.pool() : caf::actor{};
  if (!pool || st.write_in_flight)
    return;
  st.write_in_flight = true;
  auto deadline = std::chrono::duration_cast<std::chrono::nanoseconds>(
                      (std::chrono::steady_clock::now() + st.config.db_timeout).time_since_epoch())
                      .count();
  self->request(pool, st.config.db_timeout + std::chrono::seconds(1),
                db_call{"jobs.runner_beat", deadline,
                        caf::make_message(runner_beat_atom::value, st.config.instance, st.config.host,
                                          static_cast<int32_t>(st.config.pid), st.config.started_at)})
      .then([self](bool) { self->state.write_in_flight = false; },
            [self](caf::error& err) {
              self->state.write_in_flight = false;
              telemetry::log(spdlog::level::warn, "jobs_runner_beat_not_stored",
                             "could not record the runner heartbeat in the database",
                             {{"error", self->system().render(err)}});
            });
}

} // namespace

caf::behavior jobs_runner(jobs_runner_pointer self, jobs_runner_config config, supervised_context ctx) {
  self->state.config = std::move(config);
  self->state.supervision = std::move(ctx);
  supervise(self, self->state.supervision);
  if (const auto* s =
          self->state.config.metrics ? self->state.config.metrics->find("jobs-runner") : nullptr) {
    s->up->Set(1);
    self->attach_functor([s](const caf::error&) { s->up->Set(0); });
  }
  tick(self);
  return {
      // The beat is the runner's work: a hung runner (fault injection
      // swallows beats) stops heartbeating everywhere at once.
      [self](beat_atom) {
        beat(self, self->state.supervision);
        tick(self);
      },
  };
}

} // namespace clean
