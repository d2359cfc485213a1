#pragma once

// The email actor: every email this process sends goes through it, so its
// circuit breaker sees every provider call. Spawned detached under
// root/email (a send blocks on libcurl); the job threads reach it with a
// blocking request from their own thread (see email_sender_for). The SMS
// channel is a second instance of the same actor (circuit "sms", its own
// adapter, breaker and registry name), so a stalled SMS provider never
// holds up email.

#include "actors/interfaces.hpp"
#include "delivery/circuit_breaker.hpp"

#include <caf/atom.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>

namespace prometheus {
class Counter;
template <typename T>
class Family;
} // namespace prometheus

namespace clean {

namespace telemetry {
struct delivery_metrics;
}

/// Names under which the email and SMS actors are registered.
inline constexpr caf::atom_value email_name = caf::atom("email");
inline constexpr caf::atom_value sms_name = caf::atom("sms");

struct email_config {
  /// The breaker's name: `circuit_state{circuit}`, overrides, the admin API.
  std::string circuit = "email";
  /// Provider outcomes by status: email_adapter_outcomes_total or
  /// sms_notifications_total (may be null).
  prometheus::Family<prometheus::Counter>* outcomes = nullptr;
  /// Builds the provider adapter (EMAIL_ADAPTER); called once per start.
  std::function<std::unique_ptr<delivery::mail_adapter>()> make_adapter;
  config::breaker_settings breaker;
  /// How often the breaker's gauge is refreshed without traffic.
  std::chrono::milliseconds tick_interval{1000};
  /// Syncs from the database are ignored this long after a local change.
  std::chrono::milliseconds sync_grace{10000};
  const telemetry::delivery_metrics* metrics = nullptr; // may be null (tests)
  /// Where the breaker's snapshot is published for the admin API (may be null).
  std::shared_ptr<circuit_board> board;
};

struct email_state {
  static inline const char* name = "email";
  email_state() = default; // no aggregate: see health_state
  email_config config;
  supervised_context supervision;
  std::unique_ptr<delivery::mail_adapter> adapter;
  std::optional<circuit_breaker> breaker;
  /// When on-call last changed the breaker through this instance: a sync
  /// from a database sample taken before that change must not undo it.
  std::optional<caf::actor_clock::time_point> last_control;
};

email_actor::behavior_type email(supervised_pointer<email_actor, email_state> self, email_config config,
                                 supervised_context ctx);

/// A sender for dispatch running on a job's own thread: a blocking request
/// to the registered email actor, bounded by `timeout`. While the actor is
/// restarting or shedding, emails are deferred (nothing was tried); when it
/// dies mid-send the email counts as failed and is retried (its stable
/// Message-ID makes a double delivery recognisable).
delivery::email_sender email_sender_for(caf::actor_system& system, std::chrono::milliseconds timeout,
                                        caf::atom_value name = email_name);

} // namespace clean
