#include "http/delivery_routes.hpp"

#include "actors/interfaces.hpp"
#include "delivery/circuit_breaker.hpp"
#include "http/api_input.hpp"
#include "http/database_call.hpp"
#include "http/gateway.hpp"

#include <caf/make_message.hpp>
#include <nlohmann/json.hpp>

namespace clean::http {

namespace {

using config_ptr = std::shared_ptr<const delivery_routes_config>;
using persistence::api_result;

/// The breakers on-call can drive; each lives in the actor that calls its provider.
const std::vector<std::string>& known_circuits() {
  static const std::vector<std::string> all{"email", "sms", "stripe", "stripe_api"};
  return all;
}

constexpr auto control_timeout = std::chrono::seconds(2);

template <class OnOk>
void database(const config_ptr& cfg, request_context& ctx, const responder& reply, std::string op,
              caf::message payload, OnOk on_ok) {
  call_database(ctx, cfg->pool, cfg->request_timeout, reply, std::move(op), std::move(payload),
                std::move(on_ok));
}

template <class T>
bool usable(const validated<T>& v, const responder& reply) {
  if (v.errors.empty())
    return true;
  reply(json_response(bhttp::status::unprocessable_entity, validation_error_body(v.errors)));
  return false;
}

response answer(const api_result& r) {
  return json_response(static_cast<bhttp::status>(r.status), r.body);
}

admin_handler list_route(config_ptr cfg) {
  return [cfg](request_context& ctx, const admin_caller&, responder reply) {
    auto q = parse_dead_letter_query(ctx.query);
    if (!usable(q, reply))
      return;
    database(cfg, ctx, reply, "admin.dlq_list", caf::make_message(dlq_list_atom::value, *q.value),
             [reply](api_result& r) { reply(answer(r)); });
  };
}

/// `kind`: "" replays any dead event, "export" only export events.
admin_handler replay_route(config_ptr cfg, const char* param_name, std::string kind) {
  return [cfg, param_name, kind](request_context& ctx, const admin_caller& who, responder reply) {
    auto id = parse_id(param(ctx.params, param_name));
    if (!id)
      return reply(error_response(bhttp::status::not_found, "not_found", "no outbox event with that id"));
    database(cfg, ctx, reply, "admin.dlq_replay",
             caf::make_message(dlq_replay_atom::value, *id, kind, who.user), [cfg, reply](api_result& r) {
               if (cfg->refresh_gauges)
                 cfg->refresh_gauges();
               reply(answer(r));
             });
  };
}

admin_handler bulk_route(config_ptr cfg) {
  return [cfg](request_context& ctx, const admin_caller& who, responder reply) {
    auto q = parse_dead_letter_bulk(ctx.query);
    if (!usable(q, reply))
      return;
    q.value->actor = who.user;
    database(cfg, ctx, reply, "admin.dlq_bulk", caf::make_message(dlq_bulk_atom::value, *q.value),
             [cfg, reply](api_result& r) {
               if (cfg->refresh_gauges)
                 cfg->refresh_gauges();
               reply(answer(r));
             });
  };
}

admin_handler queues_route(config_ptr cfg) {
  return [cfg](request_context& ctx, const admin_caller&, responder reply) {
    database(cfg, ctx, reply, "admin.queues", caf::make_message(queues_atom::value),
             [reply](api_result& r) { reply(answer(r)); });
  };
}

admin_handler circuits_route(config_ptr cfg) {
  return [cfg](request_context&, const admin_caller&, responder reply) {
    auto circuits = nlohmann::json::array();
    if (cfg->board)
      for (const auto& snap : cfg->board->snapshots())
        circuits.push_back(nlohmann::json::parse(snap));
    nlohmann::json body = {{"circuits", std::move(circuits)}};
    if (body["circuits"].empty())
      body["note"] = "this process calls no provider (serve --no-jobs); ask an instance that runs the jobs";
    reply(json_response(bhttp::status::ok, body.dump()));
  };
}

std::string override_state(const std::string& action) {
  if (action == "force-open")
    return "forced_open";
  if (action == "force-closed")
    return "forced_closed";
  return ""; // reset clears the override
}

/// Stores the override (so every instance, and this one after a restart,
/// follows it), then applies it to the local breaker right away.
admin_handler control_route(config_ptr cfg, std::string action) {
  return [cfg, action](request_context& ctx, const admin_caller& who, responder reply) {
    auto name = std::string{param(ctx.params, "name")};
    if (std::find(known_circuits().begin(), known_circuits().end(), name) == known_circuits().end())
      return reply(error_response(bhttp::status::not_found, "unknown_circuit",
                                  "no circuit breaker named '" + name +
                                      "'; circuits: email, sms, stripe, stripe_api"));
    persistence::circuit_override o;
    o.circuit = name;
    o.state = override_state(action);
    o.set_by = who.user;
    auto reason = ctx.req["X-Audit-Reason"];
    o.reason = who.break_glass_reason.empty()
                   ? std::string{reason.data(), std::min<size_t>(reason.size(), 500)}
                   : who.break_glass_reason;
    auto* actors = &ctx.actors;
    database(cfg, ctx, reply, "admin.circuit_set", caf::make_message(circuit_set_atom::value, o),
             [cfg, name, action, who, reply, actors](api_result& r) {
               auto stored = nlohmann::json::parse(r.body);
               auto local = cfg->circuit_owner ? caf::actor_cast<email_actor>(cfg->circuit_owner(name))
                                               : email_actor{};
               if (!local) {
                 stored["applied_here"] = false;
                 stored["note"] = "stored; instances that call this provider apply it within a few seconds";
                 return reply(json_response(bhttp::status::ok, stored.dump()));
               }
               actors->request(
                   local, control_timeout,
                   [reply, stored](std::string& snapshot) mutable {
                     stored["applied_here"] = true;
                     stored["breaker"] = nlohmann::json::parse(snapshot);
                     reply(json_response(bhttp::status::ok, stored.dump()));
                   },
                   [reply, stored](caf::error&) mutable {
                     // The actor is in the middle of a (slow) send: it picks
                     // the stored override up when it is done.
                     stored["applied_here"] = false;
                     stored["note"] = "stored; the sender is busy with a send and applies it next";
                     reply(json_response(bhttp::status::accepted, stored.dump()));
                   },
                   circuit_ctl_atom::value, action, who.user);
             });
  };
}

} // namespace

void install_delivery_routes(admin_surface& admin, route_table& routes, delivery_routes_config config) {
  auto cfg = std::make_shared<const delivery_routes_config>(std::move(config));
  using m = method_kind;
  admin.add(routes, m::get, "/v1/admin/outbox/dead-letter", admin_access::read,
            "Dead outbox events, newest first, with last error and attempts (?kind=, ?limit=, ?cursor=).",
            list_route(cfg));
  // Before /v1/admin/outbox/{event_id}/replay: the first matching template wins.
  admin.add(routes, m::post, "/v1/admin/outbox/dead-letter/replay", admin_access::write,
            "Replay dead events of ?kind= that died in [?from, ?to) (at most ?limit=); ?dry_run=true lists "
            "them only.",
            bulk_route(cfg));
  admin.add(routes, m::post, "/v1/admin/outbox/{event_id}/replay", admin_access::write,
            "Replay one dead outbox event: back to pending, attempts reset (409 if it is not dead).",
            replay_route(cfg, "event_id", ""));
  admin.add(routes, m::post, "/v1/admin/export-dead-letter/{id}/replay", admin_access::write,
            "Replay one dead export event (409 if it is not dead).", replay_route(cfg, "id", "export"));
  admin.add(routes, m::get, "/v1/admin/queues/dead-letter", admin_access::read,
            "Per queue (outbox kind): dead count and oldest death, retries waiting, pending, oldest due.",
            queues_route(cfg));
  admin.add(routes, m::get, "/v1/admin/circuits", admin_access::read,
            "Each circuit breaker of this process: state, window, settings and last transition.",
            circuits_route(cfg));
  admin.add(routes, m::post, "/v1/admin/circuits/{name}/force-open", admin_access::write,
            "Force a breaker open: calls deferred until reset (stored; every instance follows).",
            control_route(cfg, "force-open"));
  admin.add(routes, m::post, "/v1/admin/circuits/{name}/force-closed", admin_access::write,
            "Force a breaker closed until reset (stored; every instance follows).",
            control_route(cfg, "force-closed"));
  admin.add(routes, m::post, "/v1/admin/circuits/{name}/reset", admin_access::write,
            "Clear a forced state and close the breaker with an empty window.", control_route(cfg, "reset"));
}

} // namespace clean::http
