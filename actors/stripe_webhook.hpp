#pragma once

// The Stripe webhook actor (root/stripe/webhook): every verified delivery
// that needs the database passes through it, so its circuit breaker
// (circuit "stripe") sees every processing attempt. (Redeliveries of events
// an HTTP loop saw settle for good are answered there: http/settled_events.)
// While processing keeps failing (the database is down) the breaker opens
// and deliveries are refused at once with 503 (Stripe retries them)
// instead of each waiting for a timeout. Event-based: it only forwards to the pool and never blocks.
// Deliveries that arrive while the database is busy with earlier ones are
// sent on together and committed in one transaction (group commit); an
// idle actor sends a delivery on at once, so batching adds no latency.
//
//   (stripe_rx_many_atom, std::vector<std::string> raw_bodies,
//    std::vector<int64_t> deadlines_ns) -> stripe_delivery_answers
//       the deliveries of one HTTP event-loop pass (a lone one is a group of
//       one); each is batched, refused or failed on its own: its receipt, or
//       an error: errc::database_unavailable with detail `circuit_open`
//       while open, else the pool's error. The group is answered once every
//       delivery of it has an outcome.
//   (circuit_ctl_atom, action, actor) -> JSON snapshot;  (circuit_sync_atom, overrides)

#include "actors/interfaces.hpp"
#include "delivery/circuit_breaker.hpp"

#include <caf/event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace clean {

namespace telemetry {
struct delivery_metrics;
struct stripe_metrics;
} // namespace telemetry

inline constexpr caf::atom_value stripe_webhook_name = caf::atom("stripe");

struct stripe_webhook_config {
  config::breaker_settings breaker;
  /// The current pool (null while it restarts).
  std::function<caf::actor()> pool;
  /// Longest wait for the database's answer (the request's own deadline is
  /// also passed on, so the query is cancelled past it).
  std::chrono::milliseconds timeout{10000};
  std::chrono::milliseconds tick_interval{1000};
  std::chrono::milliseconds sync_grace{10000};
  /// Group commit: at most this many batches at the database at once;
  /// deliveries arriving meanwhile wait and go together in the next one.
  /// Fewer, fuller batches win: the service allows a quarter of the pool.
  int max_batches_in_flight = 4;
  size_t max_batch = 64;
  const telemetry::delivery_metrics* delivery = nullptr; // circuit gauges (may be null)
  const telemetry::stripe_metrics* metrics = nullptr;    // may be null
  std::shared_ptr<circuit_board> board;
};

/// A group of deliveries (stripe_rx_many_atom) being answered: filled in
/// position by position, delivered when the last one has its outcome.
struct delivery_group {
  caf::typed_response_promise<stripe_delivery_answers> promise;
  stripe_delivery_answers answers;
  size_t left = 0;
};

/// A verified delivery waiting for the next batch, and its slot in the
/// group its outcome goes to.
struct pending_delivery {
  std::string body;
  int64_t deadline_ns = 0;
  std::shared_ptr<delivery_group> group;
  size_t slot = 0;

  void succeed(persistence::stripe_receipt r);
  void fail(caf::error e);

private:
  void count_in_group(); // the group is answered with its last outcome
};

struct stripe_webhook_state {
  static inline const char* name = "stripe-webhook";
  stripe_webhook_state() = default; // no aggregate: see health_state
  stripe_webhook_config config;
  supervised_context supervision;
  std::optional<circuit_breaker> breaker;
  std::optional<caf::actor_clock::time_point> last_control;
  std::vector<pending_delivery> waiting;
  int batches_in_flight = 0;
};

using stripe_webhook_pointer =
    caf::stateful_actor<stripe_webhook_state, instrumented<caf::event_based_actor>>*;

caf::behavior stripe_webhook(stripe_webhook_pointer self, stripe_webhook_config config,
                             supervised_context ctx);

} // namespace clean
