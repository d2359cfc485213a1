#pragma once

#include "actors/supervised.hpp"

#include <memory>
#include <string>

namespace clean::supervision {

/// What supervisors report to the outside (metrics). Optional: tests run
/// supervisors without one. Called from supervisor threads; thread-safe.
class tree_observer {
public:
  virtual ~tree_observer() = default;

  /// The counters of the actor at `path`, created on first use and kept
  /// across restarts.
  virtual std::shared_ptr<actor_stats> stats_for(const std::string& path) = 0;

  /// A child was restarted; `reason` is a bounded class such as "crash".
  virtual void restarted(const std::string& path, const std::string& reason) = 0;

  /// A supervisor at `path` started (its escalation series exist from then).
  virtual void supervising(const std::string& /*path*/) {}

  /// A supervisor exceeded its restart intensity and gave up.
  virtual void escalated(const std::string& supervisor_path) = 0;
};

} // namespace clean::supervision
