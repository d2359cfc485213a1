#pragma once

#include "actors/interfaces.hpp"
#include "delivery/circuit_breaker.hpp"

#include <caf/actor.hpp>

#include <atomic>
#include <string>

namespace caf {
class actor_system;
}

namespace clean::config {
struct settings;
}

namespace clean::telemetry {
class metrics_registry;
}

namespace clean::supervision {

class actor_metrics;
struct job_directory;

/// The service's supervision tree, declared in one place (tree.cpp):
///
///   root (one_for_one)
///   ├── db (one_for_one)      probe: readiness round trips to PostgreSQL
///   │                         pool: connection pool; each connection is a
///   │                               detached worker that stops with it
///   ├── http (one_for_one)    health: readiness aggregation for /readyz
///   ├── jobs (one_for_one)    runner: the runner's heartbeat (job="jobs-runner")
///   │                         <job>: one detached actor per job (jobs/jobs.hpp)
///   ├── email (one_for_one)   sender: the email actor (adapter + circuit breaker),
///   │                         detached; only where the jobs run
///   └── stripe (one_for_one)  webhook: the breaker in front of webhook processing
///
/// Actors find each other by registry name, not by handle, because a
/// restarted actor is a new actor.
class tree {
public:
  /// `run_jobs`: start the jobs runner and one actor per job under root/jobs
  /// (false for `serve --no-jobs`).
  tree(caf::actor_system& system, const config::settings& settings, telemetry::metrics_registry& metrics,
       bool run_jobs = true);
  ~tree();

  tree(const tree&) = delete;
  tree& operator=(const tree&) = delete;

  /// Waits (blocking, main thread only) until the actors the HTTP edge needs
  /// are up, so the first /readyz is answered by them. False on timeout.
  bool wait_started(std::chrono::milliseconds timeout) const;

  /// The current database pool (null while it is restarting).
  caf::actor db_pool() const;

  /// Asks for a fresh sample of the database-backed gauges (no-op while
  /// that actor restarts).
  void refresh_db_gauges() const;

  /// Makes the local actor of job `name` check its slot now (after a run
  /// request); no-op when jobs do not run here.
  void poke_job(const std::string& name) const;

  /// The current health actor (null while it is restarting).
  health_actor health() const;

  /// The email actor (null while it restarts, or where no jobs run).
  caf::actor email() const;
  /// The SMS actor (null unless SMS_ADAPTER is set and jobs run here).
  caf::actor sms() const;
  /// The Stripe webhook actor (null while it restarts).
  caf::actor stripe() const;

  /// The breakers' latest snapshots, for the admin API.
  std::shared_ptr<const circuit_board> circuits() const { return circuits_; }

  /// Marks the service as shutting down: /readyz answers 503 from now on.
  void begin_drain();

  /// Stops the whole tree, children in reverse start order. Idempotent.
  void shutdown();

  /// Set when the root supervisor gave up (its restart intensity was
  /// exceeded): the process must exit non-zero.
  bool root_failed() const { return root_failed_->load(); }

  /// Called (from an actor thread) when the root fails.
  void on_root_failure(std::function<void(const std::string& reason)> f);

  /// The root supervisor: answers `tree_atom` and `fault_atom`.
  const caf::actor& root() const { return root_; }

private:
  caf::actor_system& system_;
  std::shared_ptr<actor_metrics> observer_;
  caf::actor root_;
  std::shared_ptr<std::atomic<bool>> root_failed_ = std::make_shared<std::atomic<bool>>(false);
  std::shared_ptr<std::atomic<bool>> draining_ = std::make_shared<std::atomic<bool>>(false);
  std::shared_ptr<job_directory> jobs_;
  std::shared_ptr<circuit_board> circuits_;
  bool stopped_ = false;
};

} // namespace clean::supervision
