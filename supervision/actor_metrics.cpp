#include "supervision/actor_metrics.hpp"

#include "telemetry/metrics.hpp"

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

namespace clean::supervision {

namespace {

const std::vector<double>& processing_buckets() {
  static const std::vector<double> buckets{0.00001, 0.00005, 0.0001, 0.0005, 0.001, 0.005,
                                           0.01,    0.05,    0.1,    0.5,    1,     5};
  return buckets;
}

prometheus::ClientMetric sample(const std::string& path, double value, bool counter) {
  prometheus::ClientMetric m;
  m.label.push_back({"actor", path});
  if (counter)
    m.counter.value = value;
  else
    m.gauge.value = value;
  return m;
}

} // namespace

struct actor_metrics::impl : prometheus::Collectable {
  std::mutex mutex;
  std::map<std::string, std::shared_ptr<actor_stats>> stats;
  prometheus::Family<prometheus::Counter>* restarts = nullptr;
  prometheus::Family<prometheus::Counter>* escalations = nullptr;
  prometheus::Family<prometheus::Histogram>* processing = nullptr;

  // Gauges and counters that live in actor_stats are read at scrape time:
  // nothing on the message path touches Prometheus objects but one histogram.
  std::vector<prometheus::MetricFamily> Collect() const override {
    prometheus::MetricFamily mailbox{"actor_mailbox_size",
                                     "Messages waiting in a supervised actor's mailbox.",
                                     prometheus::MetricType::Gauge,
                                     {}};
    prometheus::MetricFamily handled{"actor_messages_total",
                                     "Messages handled by a supervised actor.",
                                     prometheus::MetricType::Counter,
                                     {}};
    prometheus::MetricFamily shed{"actor_messages_shed_total",
                                  "Requests refused because the actor's mailbox was full.",
                                  prometheus::MetricType::Counter,
                                  {}};
    prometheus::MetricFamily heartbeat{"actor_last_heartbeat_timestamp",
                                       "Unix time of the last heartbeat the supervisor received, in seconds.",
                                       prometheus::MetricType::Gauge,
                                       {}};
    std::lock_guard lock{const_cast<std::mutex&>(mutex)};
    for (auto& [path, s] : stats) {
      mailbox.metric.push_back(sample(path, static_cast<double>(s->mailbox()), false));
      handled.metric.push_back(sample(path, static_cast<double>(s->handled.load()), true));
      shed.metric.push_back(sample(path, static_cast<double>(s->shed.load()), true));
      if (auto ms = s->last_heartbeat_ms.load(); ms > 0)
        heartbeat.metric.push_back(sample(path, static_cast<double>(ms) / 1000.0, false));
    }
    return {mailbox, handled, shed, heartbeat};
  }
};

actor_metrics::actor_metrics(telemetry::metrics_registry& registry) : impl_(std::make_shared<impl>()) {
  auto& r = registry.registry();
  impl_->restarts = &prometheus::BuildCounter()
                         .Name("actor_restarts_total")
                         .Help("Restarts of a supervised actor by its supervisor, by tree path and reason.")
                         .Register(r);
  impl_->escalations = &prometheus::BuildCounter()
                            .Name("supervisor_escalations_total")
                            .Help("Times a supervisor exceeded its restart intensity and failed.")
                            .Register(r);
  impl_->processing =
      &prometheus::BuildHistogram()
           .Name("actor_message_processing_seconds")
           .Help("Time a supervised actor spent handling one message (one message in 8 is timed).")
           .Register(r);
  registry.add_collectable(impl_);
}

actor_metrics::~actor_metrics() = default;

std::shared_ptr<actor_stats> actor_metrics::stats_for(const std::string& path) {
  std::lock_guard lock{impl_->mutex};
  auto& slot = impl_->stats[path];
  if (!slot) {
    slot = std::make_shared<actor_stats>(path);
    auto* histogram = &impl_->processing->Add({{"actor", path}}, processing_buckets());
    slot->observe_processing = [histogram](double seconds) {
      histogram->Observe(seconds);
    };
    // The usual restart reasons at zero, so the first restart is an
    // increase() an alert can see, not a series appearing at 1.
    for (const char* reason : {"crash", "heartbeat_timeout"})
      impl_->restarts->Add({{"actor", path}, {"reason", reason}});
  }
  return slot;
}

void actor_metrics::restarted(const std::string& path, const std::string& reason) {
  impl_->restarts->Add({{"actor", path}, {"reason", reason}}).Increment();
}

void actor_metrics::supervising(const std::string& path) {
  impl_->escalations->Add({{"supervisor", path}});
}

void actor_metrics::escalated(const std::string& supervisor_path) {
  impl_->escalations->Add({{"supervisor", supervisor_path}}).Increment();
}

} // namespace clean::supervision
