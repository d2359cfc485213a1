#include "actors/email.hpp"

#include "telemetry/logging.hpp"
#include "telemetry/metrics.hpp"

#include <caf/scoped_actor.hpp>
#include <nlohmann/json.hpp>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>

namespace clean {

using telemetry::log;

namespace {

using self_ptr = supervised_pointer<email_actor, email_state>;
using delivery::email_send_result;
using delivery::send_status;

void count_outcome(const email_state& st, const char* status) {
  if (st.config.outcomes)
    st.config.outcomes->Add({{"status", status}}).Increment();
}

nlohmann::json snapshot(self_ptr self) {
  auto snap = self->state.breaker->snapshot(self->clock().now());
  snap["adapter"] = self->state.adapter->name();
  return snap;
}

void publish_state(self_ptr self) {
  auto& st = self->state;
  auto value = gauge_value(st.breaker->state(self->clock().now()));
  if (st.config.metrics)
    st.config.metrics->track_circuit(st.config.circuit, value);
  if (st.config.board)
    st.config.board->publish(st.config.circuit, snapshot(self).dump());
}

void watch_transitions(self_ptr self) {
  auto* metrics = self->state.config.metrics;
  auto circuit = self->state.config.circuit;
  self->state.breaker->on_transition(
      [metrics, circuit](breaker_state from, breaker_state to, const std::string& why) {
        if (metrics)
          metrics->circuit_changed(circuit, to_string(to), gauge_value(to));
        bool worse = to == breaker_state::open || to == breaker_state::forced_open;
        log(worse ? spdlog::level::warn : spdlog::level::info, "circuit_transition",
            "circuit breaker changed state",
            {{"circuit", circuit}, {"from", to_string(from)}, {"to", to_string(to)}, {"reason", why}});
      });
}

email_send_result send(self_ptr self, const delivery::outbound_email& email) {
  auto& st = self->state;
  auto& breaker = *st.breaker;
  if (!breaker.try_acquire(self->clock().now())) {
    count_outcome(st, "circuit_open");
    auto wait = std::max(breaker.retry_after(self->clock().now()), std::chrono::milliseconds{1000});
    return {{send_status::failed, "the " + st.config.circuit + " circuit breaker is open", 0}, true, wait};
  }
  auto outcome = st.adapter->send(email);
  count_outcome(st, to_string(outcome.status));
  auto now = self->clock().now();
  if (counts_against_provider(outcome.status))
    breaker.on_failure(now);
  else
    breaker.on_success(now);
  if (outcome.status != send_status::sent && outcome.status != send_status::duplicate)
    log(spdlog::level::warn, st.config.circuit == "sms" ? "sms_send_failed" : "email_send_failed",
        "the provider did not take a message",
        {{"channel", st.config.circuit},
         {"adapter", st.adapter->name()},
         {"status", to_string(outcome.status)},
         {"code", static_cast<int64_t>(outcome.code)},
         {"template", email.template_name},
         {"message_id", email.message_id},
         {"detail", outcome.detail}});
  publish_state(self);
  return {std::move(outcome), false, std::chrono::milliseconds{0}};
}

std::string control(self_ptr self, const std::string& action, const std::string& actor) {
  auto now = self->clock().now();
  self->state.last_control = now;
  self->state.breaker->apply(action, actor, now);
  publish_state(self);
  return snapshot(self).dump();
}

void sync(self_ptr self, const std::vector<persistence::circuit_override>& all) {
  auto& st = self->state;
  auto now = self->clock().now();
  if (st.last_control && now - *st.last_control < st.config.sync_grace)
    return; // a sample taken before on-call's change must not undo it
  st.breaker->follow(all, now);
  publish_state(self);
}

} // namespace

email_actor::behavior_type email(self_ptr self, email_config config, supervised_context ctx) {
  auto& st = self->state;
  st.config = std::move(config);
  st.supervision = std::move(ctx);
  st.adapter = st.config.make_adapter();
  st.breaker.emplace(st.config.circuit, st.config.breaker);
  supervise(self, st.supervision);
  watch_transitions(self);
  if (st.config.board)
    sync(self, st.config.board->overrides()); // a restart keeps on-call's forced state
  publish_state(self);
  self->delayed_send(self, st.config.tick_interval, tick_atom::value);
  return {
      [self](send_atom, const delivery::outbound_email& m) -> email_send_result { return send(self, m); },
      [self](circuits_atom) -> std::string { return nlohmann::json::array({snapshot(self)}).dump(); },
      [self](circuit_ctl_atom, const std::string& action, const std::string& actor) -> std::string {
        return control(self, action, actor);
      },
      [self](circuit_sync_atom, const std::vector<persistence::circuit_override>& all) { sync(self, all); },
      [self](beat_atom) { beat(self, self->state.supervision); },
      // An open breaker turns half-open with time, not traffic: keep the
      // gauge honest between sends.
      [self](tick_atom) {
        publish_state(self);
        self->delayed_send(self, self->state.config.tick_interval, tick_atom::value);
      },
  };
}

delivery::email_sender email_sender_for(caf::actor_system& system, std::chrono::milliseconds timeout,
                                        caf::atom_value name) {
  return [&system, timeout, name](const delivery::outbound_email& m) -> email_send_result {
    auto handle = caf::actor_cast<email_actor>(system.registry().get(name));
    if (!handle)
      return {{send_status::failed, "the sender actor is restarting", 0}, true, std::chrono::seconds{5}};
    caf::scoped_actor self{system};
    email_send_result out{{send_status::failed, "no answer from the email actor", 0}, false, {}};
    self->request(handle, timeout, send_atom::value, m)
        .receive(
            [&](email_send_result& r) { out = std::move(r); },
            [&](caf::error& err) {
              if (is(err, errc::mailbox_full)) {
                out = {{send_status::failed, "the email actor is busy", 0}, true, std::chrono::seconds{5}};
                return;
              }
              out.outcome.detail = "email actor: " + system.render(err);
            });
    return out;
  };
}

} // namespace clean
