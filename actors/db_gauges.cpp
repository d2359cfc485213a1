#include "actors/db_gauges.hpp"

#include "telemetry/logging.hpp"

namespace clean {

namespace {

using sample_atom = caf::atom_constant<caf::atom("sample")>;

void sample(db_gauges_pointer self) {
  auto& st = self->state;
  if (st.in_flight) {
    st.again = true;
    return;
  }
  auto pool = st.config.pool ? st.config.pool() : caf::actor{};
  if (!pool)
    return; // the pool is restarting; the next interval tries again
  st.in_flight = true;
  auto deadline = std::chrono::duration_cast<std::chrono::nanoseconds>(
                      (std::chrono::steady_clock::now() + st.config.timeout).time_since_epoch())
                      .count();
  auto done = [self] {
    auto& s = self->state;
    s.in_flight = false;
    if (s.again) {
      s.again = false;
      self->send(self, tick_atom::value);
    }
  };
  self->request(pool, st.config.timeout + std::chrono::seconds(1),
                db_call{"metrics.sample", deadline, caf::make_message(gauges_atom::value)})
      .then(
          [self, done](const persistence::db_gauge_sample& s) {
            if (self->state.config.publish)
              self->state.config.publish(s);
            done();
          },
          [self, done](caf::error& err) {
            // Stale gauges are better than noise: log at debug, keep the last values.
            telemetry::log(spdlog::level::debug, "db_gauges_failed", "could not sample database gauges",
                           {{"error", self->system().render(err)}});
            done();
          });
}

} // namespace

caf::behavior db_gauges(db_gauges_pointer self, db_gauges_config config, supervised_context ctx) {
  self->state.config = std::move(config);
  self->state.supervision = std::move(ctx);
  supervise(self, self->state.supervision);
  self->send(self, sample_atom::value);
  return {
      [self](sample_atom) {
        sample(self);
        self->delayed_send(self, self->state.config.interval, sample_atom::value);
      },
      [self](tick_atom) { sample(self); },
      [self](beat_atom) { beat(self, self->state.supervision); },
  };
}

} // namespace clean
