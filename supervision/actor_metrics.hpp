#pragma once

#include "supervision/observer.hpp"

#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace clean::telemetry {
class metrics_registry;
}

namespace clean::supervision {

/// The supervision tree's Prometheus metrics, labelled by tree path (bounded:
/// one series per supervised actor, never per connection or request):
///   actor_restarts_total{actor,reason}, supervisor_escalations_total{supervisor},
///   actor_message_processing_seconds{actor} (histogram), and, read from the
///   live counters at scrape time, actor_mailbox_size{actor},
///   actor_messages_total{actor}, actor_messages_shed_total{actor},
///   actor_last_heartbeat_timestamp{actor}.
class actor_metrics : public tree_observer {
public:
  explicit actor_metrics(telemetry::metrics_registry& registry);
  ~actor_metrics() override;

  std::shared_ptr<actor_stats> stats_for(const std::string& path) override;
  void restarted(const std::string& path, const std::string& reason) override;
  void supervising(const std::string& path) override;
  void escalated(const std::string& supervisor_path) override;

  struct impl;

private:
  std::shared_ptr<impl> impl_;
};

} // namespace clean::supervision
