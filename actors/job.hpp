#pragma once

// One actor per job (spawned `detached`: a run blocks on the database,
// files and child processes, so it gets its own thread). It polls its row
// in job_state every JOB_POLL_SECONDS: heartbeat, pause flag, run requests
// and the schedule slot. When the slot is due it claims it (one instance
// wins) and runs the job through jobs::run_job on its own connection.

#include "actors/jobs_health.hpp"
#include "actors/supervised.hpp"
#include "config/schedule.hpp"
#include "config/settings.hpp"
#include "delivery/circuit_breaker.hpp"
#include "delivery/dispatch.hpp"
#include "persistence/connection.hpp"

#include <caf/event_based_actor.hpp>

#include <memory>
#include <optional>
#include <string>

namespace clean::telemetry {
struct jobs_metrics;
struct delivery_metrics;
} // namespace clean::telemetry

namespace clean {

using poll_atom = caf::atom_constant<caf::atom("poll")>;

struct job_actor_config {
  std::string name;
  config::job_config job;
  config::jobs_settings settings;
  std::string database_url;
  std::string public_base_url;
  /// Who runs it, in job_state.running_owner: "host:pid".
  std::string owner;
  const telemetry::jobs_metrics* metrics = nullptr;
  const telemetry::delivery_metrics* delivery = nullptr;
  std::shared_ptr<jobs_health> health;
  /// Longest wait for the email actor's answer to one send.
  std::chrono::milliseconds email_timeout{65000};
  /// SMS_ADAPTER is set: SMS events go through the SMS actor.
  bool sms = false;
  /// Shared by the process's runs of stripe-reconcile (kept across restarts).
  std::shared_ptr<circuit_breaker> stripe_api;
  std::shared_ptr<circuit_board> board;
};

struct job_actor_state {
  static inline const char* name = "job";
  job_actor_state();
  ~job_actor_state();
  job_actor_config config;
  supervised_context supervision;
  std::optional<clean::config::schedule> schedule;
  std::unique_ptr<pqxx::connection> conn;
  bool missed_checked = false;
  delivery::email_sender send_email;
  delivery::email_sender send_sms;
};

using job_actor_pointer = caf::stateful_actor<job_actor_state, instrumented<caf::event_based_actor>>*;

/// Accepts `(poll_atom, tick_atom)` (its own timer), `poll_atom` (a poke
/// after a run request: poll now) and `beat_atom`.
caf::behavior job_actor(job_actor_pointer self, job_actor_config cfg, supervised_context ctx);

} // namespace clean
