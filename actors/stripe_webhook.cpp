#include "actors/stripe_webhook.hpp"

#include "telemetry/logging.hpp"
#include "telemetry/metrics.hpp"

#include <caf/make_message.hpp>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>

namespace clean {

using telemetry::log;

namespace {

constexpr const char* circuit = "stripe";

nlohmann::json snapshot(stripe_webhook_pointer self) {
  auto snap = self->state.breaker->snapshot(self->clock().now());
  snap["adapter"] = "database";
  return snap;
}

void publish_state(stripe_webhook_pointer self) {
  auto& st = self->state;
  auto value = gauge_value(st.breaker->state(self->clock().now()));
  if (st.config.delivery)
    st.config.delivery->track_circuit(circuit, value);
  if (st.config.board)
    st.config.board->publish(circuit, snapshot(self).dump());
}

void watch_transitions(stripe_webhook_pointer self) {
  auto* delivery = self->state.config.delivery;
  auto* metrics = self->state.config.metrics;
  self->state.breaker->on_transition(
      [delivery, metrics](breaker_state from, breaker_state to, const std::string& why) {
        if (delivery)
          delivery->circuit_changed(circuit, to_string(to), gauge_value(to));
        bool opened = to == breaker_state::open || to == breaker_state::forced_open;
        // Openings by the breaker itself; on-call forcing it shows as to="forced_open".
        if (to == breaker_state::open && metrics && metrics->circuit_open)
          metrics->circuit_open->Increment();
        log(opened ? spdlog::level::warn : spdlog::level::info, "circuit_transition",
            "circuit breaker changed state",
            {{"circuit", circuit}, {"from", to_string(from)}, {"to", to_string(to)}, {"reason", why}});
      });
}

void flush(stripe_webhook_pointer self);

/// Answers the deliveries of a batch, each with its own outcome, and tells
/// the breaker about each: the failure rate is per delivery, not per batch.
void settle(stripe_webhook_pointer self, std::vector<pending_delivery>& batch, stripe_batch_result* results,
            const caf::error* failure) {
  auto& breaker = *self->state.breaker;
  auto now = self->clock().now();
  if (results && (results->receipts.size() != batch.size() || results->errors.size() != batch.size()))
    results = nullptr; // not an answer to this batch: fail it rather than guess
  auto mismatch = make_error(errc::database_error, "processing_error", "the batch answer did not match");
  if (!results && !failure)
    failure = &mismatch;
  for (size_t i = 0; i < batch.size(); ++i) {
    auto& d = batch[i];
    if (results && results->errors[i].empty()) {
      breaker.on_success(now);
      d.succeed(std::move(results->receipts[i]));
      continue;
    }
    breaker.on_failure(now);
    d.fail(failure ? *failure : make_error(errc::database_error, "processing_error", results->errors[i]));
  }
  publish_state(self);
}

/// How many waiting deliveries the next batch takes: up to `max_batch`, but
/// not the first part of a group, whose answer would then wait for a later
/// batch; only a group larger than a batch is split.
size_t next_batch_size(const std::vector<pending_delivery>& waiting, size_t max_batch) {
  auto n = std::min(waiting.size(), max_batch);
  if (n == waiting.size() || !waiting[n - 1].group || waiting[n].group != waiting[n - 1].group)
    return n;
  auto start = n - 1; // the group's deliveries wait next to each other
  while (start > 0 && waiting[start - 1].group == waiting[n - 1].group)
    --start;
  return start > 0 ? start : n;
}

/// Sends the waiting deliveries (up to max_batch) to the pool as one call.
void flush(stripe_webhook_pointer self) {
  auto& st = self->state;
  if (st.waiting.empty() || st.batches_in_flight >= st.config.max_batches_in_flight)
    return;
  auto pool = st.config.pool ? st.config.pool() : caf::actor{};
  auto count = next_batch_size(st.waiting, std::max<size_t>(1, st.config.max_batch));
  auto batch = std::make_shared<std::vector<pending_delivery>>(
      std::make_move_iterator(st.waiting.begin()), std::make_move_iterator(st.waiting.begin() + count));
  st.waiting.erase(st.waiting.begin(), st.waiting.begin() + count);
  if (!pool) {
    auto err =
        make_error(errc::database_unavailable, "database_unavailable", "the database pool is restarting");
    return settle(self, *batch, nullptr, &err);
  }
  // A delivery that waited past its own deadline is answered now; it must
  // not take the batch's deadline (and its neighbours) down with it.
  auto now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                    std::chrono::steady_clock::now().time_since_epoch())
                    .count();
  auto expired = std::stable_partition(batch->begin(), batch->end(), [now_ns](const pending_delivery& d) {
    return d.deadline_ns == 0 || d.deadline_ns > now_ns;
  });
  if (expired != batch->end()) {
    std::vector<pending_delivery> late{std::make_move_iterator(expired),
                                       std::make_move_iterator(batch->end())};
    batch->erase(expired, batch->end());
    auto err =
        make_error(errc::deadline_exceeded, "deadline_exceeded", "the delivery waited past its deadline");
    settle(self, late, nullptr, &err);
    if (batch->empty())
      return flush(self);
  }
  std::vector<std::string> bodies;
  bodies.reserve(batch->size());
  int64_t deadline = 0;
  for (auto& d : *batch) {
    bodies.push_back(std::move(d.body));
    if (d.deadline_ns > 0)
      deadline = deadline == 0 ? d.deadline_ns : std::min(deadline, d.deadline_ns);
  }
  ++st.batches_in_flight;
  auto done = [self](auto&&...) {
    --self->state.batches_in_flight;
    flush(self);
  };
  self->request(pool, st.config.timeout + std::chrono::seconds(1),
                db_call{"stripe.receive", deadline,
                        caf::make_message(stripe_rx_batch_atom::value, std::move(bodies))})
      .then(
          [self, batch, done](stripe_batch_result& r) {
            settle(self, *batch, &r, nullptr);
            done();
          },
          [self, batch, done](caf::error& err) {
            settle(self, *batch, nullptr, &err);
            done();
          });
}

/// Why a delivery is refused at once while the breaker is open, or none.
caf::error refused(stripe_webhook_pointer self) {
  auto& breaker = *self->state.breaker;
  if (breaker.try_acquire(self->clock().now()))
    return caf::none;
  auto wait = std::max<int64_t>(1, breaker.retry_after(self->clock().now()).count() / 1000);
  return make_error(errc::database_unavailable, "circuit_open",
                    "webhook processing is paused after repeated failures; retry in " + std::to_string(wait) +
                        " s (Stripe retries on its own)");
}

caf::result<stripe_delivery_answers> receive_group(stripe_webhook_pointer self,
                                                   std::vector<std::string>& bodies,
                                                   const std::vector<int64_t>& deadlines_ns) {
  if (deadlines_ns.size() != bodies.size())
    return make_error(errc::database_error, "processing_error", "a deadline is needed for each delivery");
  if (bodies.empty())
    return stripe_delivery_answers{};
  auto group = std::make_shared<delivery_group>();
  group->promise = self->make_response_promise<stripe_delivery_answers>();
  group->answers.receipts.resize(bodies.size());
  group->answers.errors.resize(bodies.size());
  group->left = bodies.size();
  for (size_t i = 0; i < bodies.size(); ++i) {
    pending_delivery d{std::move(bodies[i]), deadlines_ns[i], group, i};
    if (auto err = refused(self))
      d.fail(std::move(err));
    else
      self->state.waiting.push_back(std::move(d));
  }
  flush(self);
  return group->promise;
}

std::string control(stripe_webhook_pointer self, const std::string& action, const std::string& actor) {
  auto now = self->clock().now();
  self->state.last_control = now;
  self->state.breaker->apply(action, actor, now);
  publish_state(self);
  return snapshot(self).dump();
}

void sync(stripe_webhook_pointer self, const std::vector<persistence::circuit_override>& all) {
  auto& st = self->state;
  auto now = self->clock().now();
  if (st.last_control && now - *st.last_control < st.config.sync_grace)
    return; // a sample taken before on-call's change must not undo it
  st.breaker->follow(all, now);
  publish_state(self);
}

} // namespace

void pending_delivery::succeed(persistence::stripe_receipt r) {
  group->answers.receipts[slot] = std::move(r);
  count_in_group();
}

void pending_delivery::fail(caf::error e) {
  group->answers.errors[slot] = std::move(e);
  count_in_group();
}

void pending_delivery::count_in_group() {
  if (--group->left == 0)
    group->promise.deliver(std::move(group->answers));
}

caf::behavior stripe_webhook(stripe_webhook_pointer self, stripe_webhook_config config,
                             supervised_context ctx) {
  auto& st = self->state;
  st.config = std::move(config);
  st.supervision = std::move(ctx);
  st.breaker.emplace(circuit, st.config.breaker);
  supervise(self, st.supervision);
  watch_transitions(self);
  if (st.config.board)
    sync(self, st.config.board->overrides()); // a restart keeps on-call's forced state
  publish_state(self);
  self->delayed_send(self, st.config.tick_interval, tick_atom::value);
  return {
      [self](stripe_rx_many_atom, std::vector<std::string>& bodies,
             const std::vector<int64_t>& deadlines_ns) { return receive_group(self, bodies, deadlines_ns); },
      [self](circuit_ctl_atom, const std::string& action, const std::string& actor) {
        return control(self, action, actor);
      },
      [self](circuit_sync_atom, const std::vector<persistence::circuit_override>& all) { sync(self, all); },
      [self](beat_atom) { beat(self, self->state.supervision); },
      [self](tick_atom) {
        publish_state(self);
        self->delayed_send(self, self->state.config.tick_interval, tick_atom::value);
      },
  };
}

} // namespace clean
