#include "actors/jobs_health.hpp"

namespace clean {

jobs_health::jobs_health(std::vector<std::string> names, std::chrono::seconds ttl) :
    ttl_(ttl), created_ms_(now_ms()) {
  for (auto& n : names)
    jobs_.push_back(std::make_unique<job>(std::move(n)));
}

int64_t jobs_health::now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

jobs_health::job* jobs_health::find(const std::string& name) {
  for (auto& j : jobs_)
    if (j->name == name)
      return j.get();
  return nullptr;
}

void jobs_health::runner_beat() {
  runner_beat_ms_.store(now_ms());
}

jobs_readiness jobs_health::readiness() const {
  jobs_readiness r;
  r.checked = true;
  r.ttl_seconds = ttl_.count();
  auto now = now_ms();
  auto ttl_ms = ttl_.count() * 1000;
  auto runner = runner_beat_ms_.load();
  r.runner_age_seconds = runner > 0 ? static_cast<double>(now - runner) / 1000.0 : -1;
  // Before the first beat, count from start-up: a runner that never beat
  // is stale once the TTL has passed since the process started.
  bool runner_stale = now - (runner > 0 ? runner : created_ms_.load()) > ttl_ms;
  for (const auto& j : jobs_) {
    auto beat = j->beat_ms.load();
    if (now - (beat > 0 ? beat : created_ms_.load()) > ttl_ms)
      r.stale.push_back(j->name);
    if (j->failures.load() > 0)
      r.failing.push_back(j->name);
    if (j->overdue.load() && !j->paused.load())
      r.overdue.push_back(j->name);
  }
  r.ok = !runner_stale && r.stale.empty();
  if (runner_stale)
    r.detail = "jobs-runner heartbeat is older than JOB_HEARTBEAT_TTL_SECONDS";
  else if (!r.stale.empty())
    r.detail = "job heartbeats older than JOB_HEARTBEAT_TTL_SECONDS";
  else if (!r.failing.empty() || !r.overdue.empty())
    r.detail = "runner alive; some jobs failing or overdue (not fatal)";
  else
    r.detail = "runner and every job heartbeating";
  return r;
}

} // namespace clean
