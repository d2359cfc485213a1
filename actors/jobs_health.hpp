#pragma once

// What /readyz knows about the jobs runner in this process: the runner's
// and each job's last heartbeat, failures and overdue flags. Written by the
// job actors (any thread), read by the health actor; lock-free.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace clean {

/// The jobs part of a readiness report.
struct jobs_readiness {
  bool checked = false;
  bool ok = true;
  std::string detail;
  double runner_age_seconds = -1; // -1: never beat
  int64_t ttl_seconds = 0;
  std::vector<std::string> stale;   // job actors silent for longer than the TTL
  std::vector<std::string> failing; // last run failed (consecutive_failures > 0)
  std::vector<std::string> overdue; // no success within JOB_OVERDUE_FACTOR periods
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, jobs_readiness& x) {
  return f(x.checked, x.ok, x.detail, x.runner_age_seconds, x.ttl_seconds, x.stale, x.failing, x.overdue);
}

class jobs_health {
public:
  struct job {
    explicit job(std::string n) : name(std::move(n)) {}
    const std::string name;
    std::atomic<int64_t> beat_ms{0}; // unix ms
    std::atomic<int> failures{0};
    std::atomic<bool> overdue{false};
    std::atomic<bool> paused{false};
  };

  /// `ttl`: heartbeats older than this are stale.
  jobs_health(std::vector<std::string> names, std::chrono::seconds ttl);

  job* find(const std::string& name);
  void runner_beat();
  jobs_readiness readiness() const;

  static int64_t now_ms();

private:
  std::chrono::seconds ttl_;
  std::atomic<int64_t> runner_beat_ms_{0};
  std::atomic<int64_t> created_ms_;
  std::vector<std::unique_ptr<job>> jobs_;
};

} // namespace clean
