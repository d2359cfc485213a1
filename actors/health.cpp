#include "actors/health.hpp"

#include "telemetry/metrics.hpp"

#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>

#include <caf/sec.hpp>

namespace clean {

namespace {

using self_ptr = supervised_pointer<health_actor, health_state>;

readiness_report make_report(self_ptr self) {
  auto& st = self->state;
  readiness_report r;
  r.shutting_down = st.shutting_down || (st.config.draining && st.config.draining->load());
  r.migrations_head = st.config.migrations_head;
  if (st.config.jobs)
    r.jobs = st.config.jobs->readiness();
  else
    r.jobs.detail = "not checked: this process does not run jobs (serve --no-jobs)";
  if (st.last) {
    r.database = *st.last;
    r.database_age_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(self->clock().now() - st.last_at).count();
  } else {
    r.database.error = "no probe has completed yet";
  }
  return r;
}

/// Publishes a probe result to the gauges and every waiting caller. A result
/// that says nothing about the database (no worker to ask) is not cached.
void record(self_ptr self, const db_probe_result& result, bool cache = true) {
  auto& st = self->state;
  st.probe_in_flight = false;
  if (!cache) {
    auto report = make_report(self);
    report.database = result;
    for (auto& rp : st.waiting)
      rp.deliver(report);
    st.waiting.clear();
    return;
  }
  st.last = result;
  // Conservative both ways: "up" is only known for when the probe started
  // (its answer may be handled late), "down" as of now.
  st.last_at = result.ok ? st.probe_started : self->clock().now();
  if (auto* m = st.config.metrics) {
    st.database_up->Set(result.ok ? 1 : 0);
    st.migrations_up->Set(result.ok && result.schema_version >= st.config.migrations_head ? 1 : 0);
    if (result.ok) {
      m->db_probe_seconds->Observe(result.latency_ms / 1000.0);
      m->migrations_current->Set(static_cast<double>(result.schema_version));
    }
  }
  auto report = make_report(self);
  for (auto& rp : st.waiting)
    rp.deliver(report);
  st.waiting.clear();
}

void start_probe(self_ptr self) {
  auto& st = self->state;
  if (st.probe_in_flight)
    return;
  st.probe_in_flight = true;
  st.probe_started = self->clock().now();
  auto timeout = st.config.probe_timeout;
  auto deadline =
      std::chrono::duration_cast<std::chrono::nanoseconds>((self->clock().now() + timeout).time_since_epoch())
          .count();
  auto worker = st.config.find_worker ? st.config.find_worker() : db_probe_actor{};
  if (!worker) {
    db_probe_result r;
    r.error = "the database probe worker is not running";
    return record(self, r, false);
  }
  self->request(worker, timeout, probe_atom::value, int64_t{deadline})
      .then([self](db_probe_result& r) { record(self, r); },
            [self, timeout](caf::error& err) {
              db_probe_result r;
              r.latency_ms = static_cast<double>(timeout.count());
              r.error = err == caf::sec::request_timeout
                            ? "no answer from the database within " + std::to_string(timeout.count()) + " ms"
                            : "probe worker failed: " + self->system().render(err);
              record(self, r);
            });
}

bool fresh(self_ptr self, std::chrono::milliseconds window) {
  auto& st = self->state;
  return st.last && self->clock().now() - st.last_at < window;
}

} // namespace

health_actor::behavior_type health(self_ptr self, health_config config, supervised_context ctx) {
  self->state.config = config;
  self->state.supervision = std::move(ctx);
  supervise(self, self->state.supervision);
  if (auto* m = config.metrics) {
    self->state.database_up = &m->check_up->Add({{"check", "database"}});
    self->state.migrations_up = &m->check_up->Add({{"check", "migrations"}});
    m->migrations_head->Set(static_cast<double>(config.migrations_head));
  }
  self->send(self, tick_atom::value);
  return {
      [self](readyz_atom) -> caf::result<readiness_report> {
        if (fresh(self, self->state.config.reuse_window))
          return make_report(self);
        auto rp = self->make_response_promise<readiness_report>();
        self->state.waiting.push_back(rp);
        start_probe(self);
        return rp;
      },
      [self](drain_atom) { self->state.shutting_down = true; },
      [self](beat_atom) { beat(self, self->state.supervision); },
      [self](tick_atom) {
        auto interval = self->state.config.refresh_interval;
        if (!fresh(self, interval))
          start_probe(self);
        if (interval.count() > 0)
          self->delayed_send(self, interval, tick_atom::value);
      },
  };
}

} // namespace clean
