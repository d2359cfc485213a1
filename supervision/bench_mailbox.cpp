// `clean-service bench mailbox`: the actor system of a built service under
// load, without writing code. The supervised target is what the service
// runs: an actor started by the OTP-style supervisor, heartbeating, its
// mailbox counted and bounded-capable, its processing time observed into a
// histogram. The bare target is a plain CAF actor on the same scheduler:
// the baseline for what supervision and instrumentation cost.

#include "config/cli.hpp"
#include "supervision/actor_config.hpp"
#include "supervision/actor_metrics.hpp"
#include "supervision/application.hpp"
#include "supervision/pooled_message.hpp"
#include "supervision/supervisor.hpp"
#include "telemetry/metrics.hpp"

#include <caf/actor_system.hpp>
#include <caf/resumable.hpp>
#include <caf/scoped_actor.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>

namespace clean::supervision::bench {

/// The fan-in message: what `Pid ! {msg, N}` is in the Erlang baseline.
/// Its mailbox elements come from a block pool (supervision/pooled_message.hpp).
struct fanin_msg {
  uint64_t left;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, fanin_msg& x) {
  return f(caf::meta::type_name("fanin_msg"), x.left);
}

} // namespace clean::supervision::bench

CLEAN_POOLED_MESSAGE(clean::supervision::bench::fanin_msg);

namespace clean::supervision {

namespace {

using bench::fanin_msg;

using bench_msg_atom = caf::atom_constant<caf::atom("bm_msg")>;
using bench_echo_atom = caf::atom_constant<caf::atom("bm_echo")>;
using bench_setup_atom = caf::atom_constant<caf::atom("bm_setup")>;
using bench_ready_atom = caf::atom_constant<caf::atom("bm_ready")>;
using bench_done_atom = caf::atom_constant<caf::atom("bm_done")>;
using bench_next_atom = caf::atom_constant<caf::atom("bm_next")>;

/// The receiving actor's state: how many messages to expect and whom to
/// tell when they are all in.
struct sink_state {
  sink_state() = default; // no aggregate: see supervisor_state
  uint64_t expected = 0;
  uint64_t seen = 0;
  caf::actor done_to;
  supervised_context supervision;
  int64_t high_water = 0;
};

/// The mailbox depth is only known where the mailbox is counted (the
/// supervised target); the bare actor has no stats.
template <class Self>
void sample_depth(Self* self) {
  if (auto& stats = self->state.supervision.stats)
    self->state.high_water = std::max(self->state.high_water, stats->mailbox());
}

template <class Self>
void count_one(Self* self) {
  auto& st = self->state;
  // Sampling every 256th message keeps the probe off the hot path.
  if ((++st.seen & 255) == 0)
    sample_depth(self);
  if (st.seen == st.expected)
    self->send(st.done_to, bench_done_atom::value, st.high_water);
}

template <class Self>
caf::behavior sink_behavior(Self* self) {
  return {
      [self](bench_setup_atom, uint64_t expected, caf::actor done_to) {
        self->state.expected = expected;
        self->state.seen = 0;
        self->state.high_water = 0;
        self->state.done_to = std::move(done_to);
        return bench_ready_atom::value;
      },
      [self](fanin_msg) { count_one(self); },
      [self](bench_msg_atom, uint64_t) { count_one(self); },
      [](bench_echo_atom, uint64_t x) { return x; },
      [self](beat_atom) { beat(self, self->state.supervision); },
  };
}

using supervised_sink_pointer = caf::stateful_actor<sink_state, instrumented<caf::event_based_actor>>*;
using bare_sink_pointer = caf::stateful_actor<sink_state>*;

caf::behavior supervised_sink(supervised_sink_pointer self, supervised_context ctx, caf::actor announce_to) {
  self->state.supervision = std::move(ctx);
  supervise(self, self->state.supervision);
  caf::anon_send(announce_to, bench_ready_atom::value, caf::actor_cast<caf::actor>(self));
  return sink_behavior(self);
}

caf::behavior bare_sink(bare_sink_pointer self) {
  return sink_behavior(self);
}

/// One sender: a job on the actor system's scheduler that sends one turn's
/// worth of messages (`scheduler.max-throughput`, what the sink may handle
/// before it yields its worker) each time it runs, then goes to the back of
/// the queue, as an Erlang process yields when its reductions run out. An
/// actor sending to itself to continue would not yield: the next slice is
/// handled in the same turn, so every sender turn would send a hundred
/// times what the sink's turn takes in, and the whole run would pile up in
/// the mailbox before the sink got going. Without an address a message is
/// what Erlang's `Pid ! Msg` sends; with one, each message also holds a
/// counted reference to the sender, taken here and dropped on the sink's
/// thread (one contended cache line per message).
class sender_job final : public caf::resumable, public caf::ref_counted {
public:
  sender_job(caf::actor sink, uint64_t count, caf::strong_actor_ptr from, bool pooled) :
      sink_(std::move(sink)), left_(count), from_(std::move(from)), pooled_(pooled) {}

  subtype_t subtype() const override { return function_object; }

  resume_result resume(caf::execution_unit* ctx, size_t max_throughput) override {
    auto* dest = caf::actor_cast<caf::abstract_actor*>(sink_);
    auto slice = std::min<uint64_t>(left_, std::max<size_t>(1, max_throughput));
    for (uint64_t i = 0; i < slice; ++i, --left_) {
      if (pooled_)
        dest->eq_impl(caf::make_message_id(), from_, ctx, fanin_msg{left_});
      else
        dest->eq_impl(caf::make_message_id(), from_, ctx, bench_msg_atom::value, left_);
    }
    return left_ > 0 ? resume_later : done;
  }

  void intrusive_ptr_add_ref_impl() override { ref(); }
  void intrusive_ptr_release_impl() override { deref(); }

private:
  caf::actor sink_;
  uint64_t left_;
  caf::strong_actor_ptr from_;
  bool pooled_;
};

struct caller_state {
  caller_state() = default;
  uint64_t left = 0;
  caf::actor server;
  caf::actor done_to;
};

using caller_pointer = caf::stateful_actor<caller_state>*;

/// One round trip at a time: the next request leaves when the answer is in.
void call_next(caller_pointer self) {
  auto& st = self->state;
  if (st.left == 0) {
    self->send(st.done_to, bench_done_atom::value, int64_t{0});
    return self->quit();
  }
  self->request(st.server, caf::infinite, bench_echo_atom::value, st.left--).then([self](uint64_t) {
    call_next(self);
  });
}

caf::behavior caller(caller_pointer self, caf::actor server, uint64_t calls, caf::actor done_to) {
  self->state.left = calls;
  self->state.server = std::move(server);
  self->state.done_to = std::move(done_to);
  self->send(self, bench_next_atom::value);
  return {[self](bench_next_atom) {
    call_next(self);
  }};
}

/// The supervised target: a one-child supervisor with the service's
/// observer (counters, histogram, restart metrics) and heartbeat TTL.
caf::actor start_supervised(caf::actor_system& sys, telemetry::metrics_registry& registry,
                            caf::scoped_actor& self, caf::actor& supervisor_out) {
  supervisor_spec spec;
  spec.path = "bench";
  spec.observer = std::make_shared<actor_metrics>(registry);
  child_spec sink;
  sink.id = "sink";
  sink.heartbeat_ttl = std::chrono::seconds(5);
  auto announce = caf::actor{self};
  sink.start = [announce](caf::local_actor* parent, const supervised_context& ctx) {
    return parent->spawn(supervised_sink, ctx, announce);
  };
  spec.children.push_back(std::move(sink));
  supervisor_out = sys.spawn(supervisor, std::move(spec), supervised_context{});
  caf::actor target;
  self->receive([&](bench_ready_atom, caf::actor a) { target = std::move(a); });
  return target;
}

} // namespace

int bench_mailbox(const config::settings& settings, const config::bench_options& options) {
  auto cfg = actor_config(settings);
  // Outlives the actor system: the supervised actor observes into it until
  // it has stopped.
  telemetry::metrics_registry registry{"bench", false};
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  caf::actor supervisor_handle;
  auto target = options.target == "bare" ? sys.spawn(bare_sink)
                                         : start_supervised(sys, registry, self, supervisor_handle);
  bool fanin = options.mode == "fanin";
  uint64_t per_sender = fanin ? std::max<uint64_t>(1, options.messages / options.senders) : 0;
  uint64_t total = fanin ? per_sender * options.senders : options.messages;
  if (fanin)
    self->request(target, caf::infinite, bench_setup_atom::value, total, caf::actor{self})
        .receive([](bench_ready_atom) {}, [](caf::error&) {});
  auto start = std::chrono::steady_clock::now();
  if (fanin)
    for (int i = 0; i < options.senders; ++i) {
      auto from = options.address == "self" ? self->ctrl() : nullptr;
      // The scheduler takes over the reference `make_counted` hands out.
      sys.scheduler().enqueue(caf::make_counted<sender_job>(target, per_sender, caf::strong_actor_ptr{from},
                                                            options.element == "pooled")
                                  .release());
    }
  else
    sys.spawn(caller, target, total, caf::actor{self});
  int64_t high_water = 0;
  self->receive([&](bench_done_atom, int64_t hw) { high_water = hw; });
  auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("target=%s mode=%s senders=%d address=%s element=%s messages=%llu seconds=%.3f %s=%.0f "
              "mailbox_high_water=%s\n",
              options.target.c_str(), options.mode.c_str(), fanin ? options.senders : 1,
              fanin ? options.address.c_str() : "self", fanin ? options.element.c_str() : "caf",
              static_cast<unsigned long long>(total), seconds, fanin ? "msgs_per_sec" : "calls_per_sec",
              static_cast<double>(total) / seconds,
              options.target == "bare" ? "n/a" : std::to_string(high_water).c_str());
  std::fflush(stdout);
  self->send_exit(supervisor_handle ? supervisor_handle : target, caf::exit_reason::user_shutdown);
  return 0;
}

} // namespace clean::supervision
