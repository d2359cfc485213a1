#include "actors/stripe_webhook.hpp"

#include "telemetry/logging.hpp"
#include "telemetry/metrics.hpp"

#include <caf/make_message.hpp>
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

caf::result<persistence::stripe_receipt> receive(stripe_webhook_pointer self, std::string body,
                                                 int64_t deadline_ns) {
  auto& st = self->state;
  auto& breaker = *st.breaker;
  if (!breaker.try_acquire(self->clock().now())) {
    auto wait = std::max<int64_t>(1, breaker.retry_after(self->clock().now()).count() / 1000);
    return make_error(errc::database_unavailable, "circuit_open",
                      "webhook processing is paused after repeated failures; retry in " +
                          std::to_string(wait) + " s (Stripe retries on its own)");
  }
  auto pool = st.config.pool ? st.config.pool() : caf::actor{};
  if (!pool) {
    breaker.on_failure(self->clock().now());
    publish_state(self);
    return make_error(errc::database_unavailable, "database_unavailable", "the database pool is restarting");
  }
  auto rp = self->make_response_promise<persistence::stripe_receipt>();
  self->request(
          pool, st.config.timeout + std::chrono::seconds(1),
          db_call{"stripe.receive", deadline_ns, caf::make_message(stripe_rx_atom::value, std::move(body))})
      .then(
          [self, rp](persistence::stripe_receipt& r) mutable {
            self->state.breaker->on_success(self->clock().now());
            publish_state(self);
            rp.deliver(std::move(r));
          },
          [self, rp](caf::error& err) mutable {
            self->state.breaker->on_failure(self->clock().now());
            publish_state(self);
            rp.deliver(std::move(err));
          });
  return rp;
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
      [self](stripe_rx_atom, std::string& body, int64_t deadline_ns) {
        return receive(self, std::move(body), deadline_ns);
      },
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
