#pragma once

// What every supervised actor shares with its supervisor:
//  * the heartbeat protocol: a child beats by sending itself `beat_atom` on
//    an interval and forwarding `heartbeat_atom` to its supervisor when it
//    handles it, so a beat proves the mailbox is being processed;
//  * live counters (`actor_stats`), kept per tree path across restarts and
//    read by metrics and the admin API;
//  * mailbox protection: a bounded number of pending requests, beyond which
//    requests are refused at once with `errc::mailbox_full`.

#include <caf/actor.hpp>
#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/invoke_message_result.hpp>
#include <caf/local_actor.hpp>
#include <caf/mailbox_element.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

namespace clean {

using heartbeat_atom = caf::atom_constant<caf::atom("heartbeat")>;
using beat_atom = caf::atom_constant<caf::atom("beat")>;

/// The service's own error codes, category `clean`.
enum class errc : uint8_t {
  mailbox_full = 1,         // a supervised actor shed a request instead of queueing it
  no_such_actor = 2,        // no actor at the given tree path
  pool_timeout = 3,         // no database connection became free in time
  database_unavailable = 4, // the database cannot be reached (fail fast)
  deadline_exceeded = 5,    // the caller's deadline passed; its query was cancelled
  database_error = 6,       // an unexpected database failure
  not_found = 7,            // business rule: no such record
  conflict = 8,             // business rule: wrong state for this change
  invalid = 9,              // business rule: the input refers to something invalid
  unauthenticated = 10,     // unknown or revoked credentials
  forbidden = 11,           // known credentials, but not allowed (expired, ended, read-only)
};

caf::error make_error(errc code);
/// An error with a machine-readable `detail` code, a human message and, for
/// `invalid`, the request field at fault (carried in the error's context).
caf::error make_error(errc code, std::string detail, std::string message, std::string field = {});
bool is(const caf::error& err, errc code);

/// What `make_error` put into an error's context (empty strings if none).
struct error_detail {
  std::string code;
  std::string message;
  std::string field;
};
error_detail detail_of(const caf::error& err);

/// Counters of one supervised actor (one tree path), shared by every
/// instance of it across restarts. All fields are safe to read from any thread.
struct actor_stats {
  explicit actor_stats(std::string p) : path(std::move(p)) {}
  const std::string path;
  /// Messages put into and taken out of the mailbox; their difference is
  /// its depth. Split, on cache lines of their own, so that the actor's own
  /// bookkeeping is a plain store and senders contend on one counter only
  /// (one shared counter cost a quarter of the fan-in rate: BENCHMARKS.md).
  alignas(64) std::atomic<int64_t> enqueued{0};
  alignas(64) std::atomic<int64_t> dequeued{0};
  std::atomic<uint64_t> handled{0}; // written only by the actor, like dequeued
  alignas(64) std::atomic<uint64_t> shed{0};

  int64_t mailbox() const {
    return std::max<int64_t>(0, enqueued.load(std::memory_order_relaxed) -
                                    dequeued.load(std::memory_order_relaxed));
  }
  /// A new instance starts with an empty mailbox (call while none runs).
  void reset_mailbox() { dequeued.store(enqueued.load()); }
  /// One message in this many has its processing time observed: timing
  /// every message cost more than the handling of small ones.
  static constexpr uint64_t timing_sample = 8;
  /// Unix time in ms of the last heartbeat the supervisor received.
  std::atomic<int64_t> last_heartbeat_ms{0};
  /// Fault injection: the actor keeps working but stops heartbeating.
  std::atomic<bool> hung{false};
  /// Requests queued beyond this are refused (0 = unbounded). Set before start.
  size_t mailbox_limit = 0;
  /// Observes one message's processing time in seconds (may be empty).
  std::function<void(double)> observe_processing;
};

/// Handed to a child when its supervisor starts it.
struct supervised_context {
  /// Where heartbeats go; null when the actor runs unsupervised (tests).
  caf::actor supervisor;
  /// 0 = the child does not heartbeat.
  std::chrono::milliseconds heartbeat_interval{0};
  std::shared_ptr<actor_stats> stats;
};

/// An actor class whose mailbox is counted and bounded. Function-based
/// actors get it by taking a `supervised_pointer<Handle, State>` as `self`.
template <class Base>
class instrumented : public Base {
public:
  using Base::Base;

  void attach_stats(std::shared_ptr<actor_stats> stats) {
    owner_ = std::move(stats);
    stats_.store(owner_.get(), std::memory_order_release);
  }

  void enqueue(caf::mailbox_element_ptr ptr, caf::execution_unit* eu) override {
    auto* s = stats_.load(std::memory_order_acquire);
    if (s != nullptr && !this->getf(caf::abstract_actor::is_terminated_flag)) {
      // Only requests are shed: they have a sender waiting for an answer,
      // which gets the error now instead of a timeout later. System
      // messages, heartbeats and timers always get through.
      if (s->mailbox_limit > 0 && ptr->mid.is_request() &&
          s->mailbox() >= static_cast<int64_t>(s->mailbox_limit)) {
        s->shed.fetch_add(1, std::memory_order_relaxed);
        if (ptr->sender)
          ptr->sender->enqueue(caf::make_mailbox_element(this->ctrl(), ptr->mid.response_id(), {},
                                                         make_error(errc::mailbox_full)),
                               eu);
        return;
      }
      s->enqueued.fetch_add(1, std::memory_order_relaxed);
    }
    Base::enqueue(std::move(ptr), eu);
  }

  // The counters outlive this instance (they belong to the tree path): stop
  // touching them before the mailbox is discarded.
  bool cleanup(caf::error&& reason, caf::execution_unit* host) override {
    stats_.store(nullptr, std::memory_order_release);
    return Base::cleanup(std::move(reason), host);
  }

  caf::invoke_message_result consume(caf::mailbox_element& x) override {
    auto* s = stats_.load(std::memory_order_acquire);
    if (s == nullptr)
      return Base::consume(x);
    if (s->hung.load(std::memory_order_relaxed) && x.content().match_elements<beat_atom>()) {
      taken(s);
      return caf::invoke_message_result::consumed; // swallowed: no beat, no heartbeat
    }
    auto n = s->handled.load(std::memory_order_relaxed);
    bool timed = n % actor_stats::timing_sample == 0 && s->observe_processing;
    auto start = timed ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
    auto result = Base::consume(x);
    if (result != caf::invoke_message_result::skipped) {
      taken(s);
      s->handled.store(n + 1, std::memory_order_relaxed);
      if (timed)
        s->observe_processing(
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
    return result;
  }

private:
  // Only this actor writes `dequeued`, one message at a time: no RMW needed.
  static void taken(actor_stats* s) {
    s->dequeued.store(s->dequeued.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }

  std::shared_ptr<actor_stats> owner_;
  std::atomic<actor_stats*> stats_{nullptr};
};

/// `self` type of a supervised function-based actor with state.
template <class Handle, class State>
using supervised_pointer = caf::stateful_actor<State, instrumented<typename Handle::base>>*;

/// Sends one heartbeat and schedules the next beat. Called by `supervise`
/// and from the actor's `beat_atom` handler.
template <class Self>
void beat(Self* self, const supervised_context& ctx) {
  if (!ctx.supervisor || ctx.heartbeat_interval.count() <= 0)
    return;
  // anon_send: typed actors may not send() to the untyped supervisor, so
  // the beat names its sender explicitly.
  caf::anon_send(ctx.supervisor, heartbeat_atom::value, self->address());
  self->delayed_send(self, ctx.heartbeat_interval, beat_atom::value);
}

/// First thing in a supervised actor's behavior function: counts its
/// mailbox from now on and starts heartbeating.
template <class Self>
void supervise(Self* self, const supervised_context& ctx) {
  if constexpr (requires { self->attach_stats(ctx.stats); }) {
    if (ctx.stats)
      self->attach_stats(ctx.stats);
  }
  beat(self, ctx);
}

} // namespace clean
