#include "http/stripe_routes.hpp"

#include "actors/interfaces.hpp"
#include "http/api_input.hpp"
#include "http/database_call.hpp"
#include "http/gateway.hpp"
#include "http/settled_events.hpp"
#include "http/stripe_signature.hpp"
#include "persistence/stripe_events.hpp"
#include "telemetry/logging.hpp"
#include "telemetry/metrics.hpp"

#include <caf/make_message.hpp>
#include <nlohmann/json.hpp>

#include <optional>
#include <string_view>

namespace clean::http {

namespace {

using config_ptr = std::shared_ptr<const stripe_routes_config>;
using clock = std::chrono::steady_clock;
using telemetry::log;

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

/// Answers a delivery and counts it once.
struct delivery_call {
  config_ptr cfg;
  responder reply;
  clock::time_point started;
  std::string request_id;

  void finish(response res, const std::string& result) const {
    if (cfg->metrics)
      cfg->metrics->count(result, std::chrono::duration<double>(clock::now() - started).count());
    reply(std::move(res));
  }
};

response received(const persistence::stripe_receipt& r) {
  nlohmann::json body = {{"received", true}, {"result", r.result}, {"event_id", r.event_id}};
  if (r.invoice_id)
    body["invoice_id"] = r.invoice_id;
  return json_response(bhttp::status::ok, body.dump());
}

/// Answers a delivery with what the database made of it; an event whose
/// state is now final is remembered, so its redeliveries skip the database.
void on_receipt(const delivery_call& call, const persistence::stripe_receipt& r, settled_events* settled) {
  if (settled && r.final_state) // never a mismatch: on-call may fix and replay those
    settled->remember(r.event_id, clock::now());
  if (r.result == "payload_mismatch") {
    log(spdlog::level::warn, "stripe_webhook_mismatch",
        "Stripe event contradicts our records; stored, not applied",
        {{"event_id", r.event_id},
         {"type", r.type},
         {"invoice_id", r.invoice_id},
         {"detail", r.detail},
         {"request_id", call.request_id}});
    return call.finish(error_response(bhttp::status::bad_request, "payload_mismatch", r.detail), r.result);
  }
  log(spdlog::level::info, "stripe_webhook", "Stripe event received",
      {{"event_id", r.event_id},
       {"type", r.type},
       {"result", r.result},
       {"invoice_id", r.invoice_id},
       {"request_id", call.request_id}});
  call.finish(received(r), r.result);
}

/// Answers a delivery that could not be processed. The loop's settled ids
/// are forgotten: a failing database may come back as another (a failover,
/// a restore) that lacks some of them.
void on_failure(const delivery_call& call, const caf::error& err, settled_events* settled) {
  if (settled)
    settled->clear();
  auto detail = detail_of(err);
  if (detail.code == "circuit_open") {
    auto res = error_response(bhttp::status::service_unavailable, "circuit_open", detail.message);
    res.set(bhttp::field::retry_after, "30");
    return call.finish(std::move(res), "processing_error");
  }
  log(spdlog::level::err, "stripe_webhook_failed", "Stripe event could not be processed; Stripe will retry",
      {{"error", detail.message.empty() ? std::string{"actor error"} : detail.message},
       {"request_id", call.request_id}});
  call.finish(error_response(bhttp::status::internal_server_error, "processing_error",
                             "the event could not be processed; nothing was applied (retry)"),
              "processing_error");
}

/// The deliveries verified during one pass of this event loop, handed to
/// the webhook actor as one message at the end of the pass: one mailbox
/// hand-off (and one wake-up of its scheduler thread, one request timeout on
/// CAF's clock thread) for all of them instead of one each. Nothing waits
/// for company: a lone delivery leaves at the end of its own pass. A group
/// holds at most one database batch (64), so the webhook actor never has to
/// split it. One webhook route per server: the first call's configuration
/// (webhook actor, timeout) serves the whole pass.
class pass_deliveries {
public:
  void add(gateway& g, delivery_call call, std::string body, int64_t deadline_ns) {
    if (calls_.empty())
      g.post([this, &g] { flush(g); });
    calls_.push_back(std::move(call));
    bodies_.push_back(std::move(body));
    deadlines_.push_back(deadline_ns);
    if (calls_.size() >= max_group)
      flush(g); // the flush already posted finds nothing, or the next ones
  }

private:
  static constexpr size_t max_group = 64;

  void flush(gateway& g) {
    auto calls = std::make_shared<std::vector<delivery_call>>(std::move(calls_));
    auto bodies = std::move(bodies_);
    auto deadlines = std::move(deadlines_);
    calls_.clear();
    bodies_.clear();
    deadlines_.clear();
    if (calls->empty())
      return;
    const auto& cfg = calls->front().cfg;
    auto* settled = &g.local<settled_events>(); // lives as long as the gateway
    auto webhook = cfg->webhook ? cfg->webhook() : caf::actor{};
    if (!webhook) {
      auto err = make_error(errc::database_unavailable, "restarting", "the webhook actor is restarting");
      for (const auto& c : *calls)
        on_failure(c, err, settled);
      return;
    }
    g.request(
        webhook, cfg->request_timeout + std::chrono::seconds(2),
        [calls, settled](stripe_delivery_answers& a) {
          for (size_t i = 0; i < calls->size(); ++i) {
            if (i >= a.errors.size() || i >= a.receipts.size())
              on_failure((*calls)[i],
                         make_error(errc::database_error, "processing_error",
                                    "the webhook actor's answer did not match"),
                         settled);
            else if (a.errors[i])
              on_failure((*calls)[i], a.errors[i], settled);
            else
              on_receipt((*calls)[i], a.receipts[i], settled);
          }
        },
        [calls, settled](caf::error& err) {
          for (const auto& c : *calls)
            on_failure(c, err, settled);
        },
        stripe_rx_many_atom::value, std::move(bodies), std::move(deadlines));
  }

  std::vector<delivery_call> calls_;
  std::vector<std::string> bodies_;
  std::vector<int64_t> deadlines_;
};

/// One signer per webhook secret, made once per event loop, so a delivery
/// pays for hashing its body and not for setting up the key.
class loop_signers {
public:
  std::vector<persistence::hmac_sha256_signer>& for_secrets(const std::vector<std::string>& secrets) {
    if (source_ != &secrets) { // the route's configuration outlives the loop
      signers_.clear();
      for (const auto& secret : secrets)
        signers_.emplace_back(secret);
      source_ = &secrets;
    }
    return signers_;
  }

private:
  const std::vector<std::string>* source_ = nullptr;
  std::vector<persistence::hmac_sha256_signer> signers_;
};

/// A redelivery of an event this loop saw reach a final state is answered
/// `duplicate` here, with the body, counters and log line the database path
/// gives it, without the round trip (and without the breaker: while it is
/// open such a redelivery still gets its 200). Anything else (unknown,
/// malformed, or still able to change) goes to the database.
bool answered_as_settled(request_context& ctx, const stripe_routes_config& cfg, const delivery_call& call,
                         const std::string& body) {
  auto& settled = ctx.actors.local<settled_events>();
  settled.configure(cfg.settled_cache, cfg.settled_max_age);
  if (settled.size() == 0)
    return false;
  // A scan of the top level, not a parse: a settled id's first delivery
  // was parsed in full, and Stripe redelivers the same signed bytes.
  auto key = persistence::stripe_events::skim_key(body);
  if (!key || !settled.contains(key->id, clock::now()))
    return false;
  persistence::stripe_receipt r;
  r.result = "duplicate";
  r.event_id = key->id;
  r.type = key->type; // the database path, too, reports the type delivered
  r.detail = "already received";
  r.final_state = true;
  on_receipt(call, r, nullptr);
  return true;
}

handler webhook_route(config_ptr cfg) {
  return [cfg](request_context& ctx, responder reply) {
    delivery_call call{cfg, std::move(reply), clock::now(), std::string{ctx.request_id}};
    if (cfg->secrets.empty()) {
      log(spdlog::level::err, "stripe_webhook_not_configured",
          "STRIPE_WEBHOOK_SECRET is unset: cannot verify");
      return call.finish(error_response(bhttp::status::internal_server_error, "not_configured",
                                        "the Stripe webhook endpoint has no signing secret configured"),
                         "processing_error");
    }
    auto header = ctx.req["Stripe-Signature"];
    const auto& body = ctx.req.body();
    auto& signers = ctx.actors.local<loop_signers>().for_secrets(cfg->secrets);
    auto check =
        verify_stripe_signature({header.data(), header.size()}, body, signers, cfg->tolerance, unix_now());
    if (check != signature_check::ok) {
      // The body is not stored and the header is not logged: neither is ours.
      log(spdlog::level::warn, "stripe_webhook_rejected", "Stripe webhook signature refused",
          {{"reason", to_string(check)}, {"client", ctx.client_address}, {"request_id", ctx.request_id}});
      return call.finish(
          error_response(bhttp::status::bad_request, "invalid_signature",
                         std::string{"the Stripe-Signature header does not verify: "} + to_string(check)),
          "invalid_signature");
    }
    if (answered_as_settled(ctx, *cfg, call, body))
      return;
    auto deadline = std::chrono::duration_cast<std::chrono::nanoseconds>(
                        (clock::now() + cfg->request_timeout).time_since_epoch())
                        .count();
    ctx.actors.local<pass_deliveries>().add(ctx.actors, std::move(call), std::string{body}, deadline);
  };
}

template <class OnOk>
void database(const config_ptr& cfg, request_context& ctx, const responder& reply, std::string op,
              caf::message payload, OnOk on_ok) {
  call_database(ctx, cfg->pool, cfg->request_timeout, reply, std::move(op), std::move(payload),
                std::move(on_ok));
}

admin_handler list_route(config_ptr cfg) {
  return [cfg](request_context& ctx, const admin_caller&, responder reply) {
    auto q = parse_stripe_event_query(ctx.query);
    if (!q.errors.empty())
      return reply(json_response(bhttp::status::unprocessable_entity, validation_error_body(q.errors)));
    database(cfg, ctx, reply, "admin.stripe_list", caf::make_message(stripe_list_atom::value, *q.value),
             [reply](persistence::api_result& r) {
               reply(json_response(static_cast<bhttp::status>(r.status), r.body));
             });
  };
}

admin_handler replay_route(config_ptr cfg) {
  return [cfg](request_context& ctx, const admin_caller&, responder reply) {
    auto id = std::string{param(ctx.params, "id")};
    database(cfg, ctx, reply, "admin.stripe_replay", caf::make_message(stripe_replay_atom::value, id),
             [reply](persistence::stripe_receipt& r) {
               nlohmann::json body = {{"event_id", r.event_id},
                                      {"type", r.type},
                                      {"result", r.result},
                                      {"invoice_id", r.invoice_id ? nlohmann::json(r.invoice_id) : nullptr},
                                      {"detail", r.detail}};
               reply(json_response(bhttp::status::ok, body.dump()));
             });
  };
}

} // namespace

void install_stripe_routes(admin_surface& admin, route_table& routes, stripe_routes_config config) {
  auto cfg = std::make_shared<const stripe_routes_config>(std::move(config));
  using m = method_kind;
  routes.add(method_kind::post, "/v1/webhooks/stripe", webhook_route(cfg));
  admin.add(routes, m::get, "/v1/admin/webhooks/events", admin_access::read,
            "Stored Stripe events, newest first, with what each came to (?status=, ?limit=, ?cursor=).",
            list_route(cfg));
  admin.add(routes, m::post, "/v1/admin/webhooks/events/{id}/replay", admin_access::write,
            "Apply a stored Stripe event again (after fixing what made it fail or mismatch).",
            replay_route(cfg));
}

} // namespace clean::http
