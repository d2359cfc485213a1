// The admin surface's own routes: the route catalogue, break-glass sessions
// and the audit log. They sit behind the same gate as every admin route.

#include "http/admin_calls.hpp"
#include "http/api_input.hpp"
#include "telemetry/logging.hpp"

#include <caf/make_message.hpp>
#include <nlohmann/json.hpp>

namespace clean::http {

using telemetry::log;

namespace {

using persistence::api_result;

struct own_env {
  admin_config cfg;
  std::function<std::vector<admin_route_info>()> catalogue;
};
using env_ptr = std::shared_ptr<own_env>;

/// A database call on behalf of one admin request.
admin_call call_for(const env_ptr& env, request_context& ctx) {
  admin_call c;
  c.cfg = &env->cfg;
  c.keep_alive = env;
  c.actors = &ctx.actors;
  c.route = std::string{ctx.route};
  c.request_id = std::string{ctx.request_id};
  c.client = std::string{ctx.client_address};
  return c;
}

response answer(const api_result& r) {
  return json_response(static_cast<bhttp::status>(r.status), r.body);
}

auto fail_with(responder reply) {
  return [reply](caf::error& err) {
    reply(actor_error_response(err));
  };
}

template <class T>
bool usable(const validated<T>& v, const responder& reply) {
  if (!v.malformed.empty()) {
    reply(error_response(bhttp::status::bad_request, "invalid_json", v.malformed));
    return false;
  }
  if (!v.errors.empty()) {
    reply(json_response(bhttp::status::unprocessable_entity, validation_error_body(v.errors)));
    return false;
  }
  return true;
}

const char* access_name(admin_access a) {
  switch (a) {
    case admin_access::read:
      return "read";
    case admin_access::write:
      return "write";
    case admin_access::break_glass:
      return "break_glass";
  }
  return "read";
}

admin_handler index_route(env_ptr env) {
  return [env](request_context&, const admin_caller& who, responder reply) {
    auto routes = nlohmann::json::array();
    for (const auto& r : env->catalogue())
      routes.push_back({{"method", r.method},
                        {"path", r.pattern},
                        {"access", access_name(r.access)},
                        {"summary", r.summary}});
    nlohmann::json caller = {{"user", who.user}};
    caller["break_glass_session_id"] =
        who.break_glass_session ? nlohmann::json(who.break_glass_session) : nlohmann::json(nullptr);
    nlohmann::json body = {{"routes", std::move(routes)},
                           {"read_only", env->cfg.read_only},
                           {"break_glass_max_ttl_minutes", env->cfg.break_glass_max_ttl_minutes},
                           {"caller", std::move(caller)}};
    reply(json_response(bhttp::status::ok, body.dump()));
  };
}

admin_handler start_route(env_ptr env) {
  return [env](request_context& ctx, const admin_caller& who, responder reply) {
    if (who.token_only)
      return reply(error_response(bhttp::status::forbidden, "basic_auth_required",
                                  "starting a break-glass session needs the admin Basic credentials"));
    auto input = parse_break_glass_request(ctx.req.body());
    if (!usable(input, reply))
      return;
    persistence::break_glass_start req;
    auto call = call_for(env, ctx);
    req.origin = call.origin(who);
    req.reason = input.value->reason;
    auto cap = env->cfg.break_glass_max_ttl_minutes;
    auto asked = input.value->ttl_minutes.value_or(cap);
    req.capped = asked > cap;
    req.ttl_minutes = static_cast<int32_t>(std::min<int64_t>(asked, cap));
    call.database(
        "admin.break_glass_start", caf::make_message(bg_start_atom::value, req),
        [env, call, req, reply](api_result& r) {
          auto body = nlohmann::json::parse(r.body, nullptr, false);
          log(spdlog::level::warn, "break_glass_started", "break-glass session started",
              {{"session_id", body.value("id", int64_t{0})},
               {"actor", req.origin.user},
               {"reason", req.reason},
               {"ttl_minutes", req.ttl_minutes},
               {"ttl_capped", req.capped},
               {"client", call.client},
               {"request_id", call.request_id}});
          if (env->cfg.refresh_gauges)
            env->cfg.refresh_gauges();
          reply(answer(r));
        },
        fail_with(reply));
  };
}

admin_handler end_route(env_ptr env) {
  return [env](request_context& ctx, const admin_caller& who, responder reply) {
    auto id = parse_id(param(ctx.params, "id"));
    if (!id)
      return reply(
          error_response(bhttp::status::not_found, "not_found", "no break-glass session with that id"));
    // A token alone ends only its own session; ending someone else's takes
    // the admin credentials.
    if (who.token_only && who.break_glass_session != *id)
      return reply(error_response(bhttp::status::forbidden, "break_glass_not_yours",
                                  "a break-glass token can end only its own session; use the admin "
                                  "credentials to end another"));
    persistence::break_glass_end req;
    auto call = call_for(env, ctx);
    req.origin = call.origin(who);
    req.session_id = *id;
    req.by_session_id = who.break_glass_session;
    call.database(
        "admin.break_glass_end", caf::make_message(bg_end_atom::value, req),
        [env, call, req, reply](api_result& r) {
          log(spdlog::level::warn, "break_glass_ended", "break-glass session ended early",
              {{"session_id", req.session_id},
               {"actor", req.origin.user},
               {"client", call.client},
               {"request_id", call.request_id}});
          if (env->cfg.refresh_gauges)
            env->cfg.refresh_gauges();
          reply(answer(r));
        },
        fail_with(reply));
  };
}

admin_handler list_sessions_route(env_ptr env) {
  return [env](request_context& ctx, const admin_caller&, responder reply) {
    auto all_values = query_values(ctx.query, "all");
    bool all = !all_values.empty() && (all_values.front() == "true" || all_values.front() == "1");
    call_for(env, ctx).database(
        "admin.break_glass_list", caf::make_message(bg_list_atom::value, all),
        [reply](api_result& r) { reply(answer(r)); }, fail_with(reply));
  };
}

admin_handler audit_route(env_ptr env) {
  return [env](request_context& ctx, const admin_caller&, responder reply) {
    auto q = parse_audit_query(ctx.query);
    if (!usable(q, reply))
      return;
    call_for(env, ctx).database(
        "admin.audit_list", caf::make_message(audit_list_atom::value, *q.value),
        [reply](api_result& r) { reply(answer(r)); }, fail_with(reply));
  };
}

} // namespace

void install_admin_own_routes(admin_surface& surface, route_table& routes, const admin_config& cfg,
                              std::function<std::vector<admin_route_info>()> catalogue) {
  auto env = std::make_shared<own_env>(own_env{cfg, std::move(catalogue)});
  using m = method_kind;
  surface.add(routes, m::get, "/v1/admin", admin_access::read, "This list of admin routes.",
              index_route(env));
  surface.add(routes, m::post, "/v1/admin/break-glass/start", admin_access::break_glass,
              "Start a break-glass session: {\"reason\", \"ttl_minutes\"}; returns its token once.",
              start_route(env));
  surface.add(routes, m::get, "/v1/admin/break-glass", admin_access::read,
              "Open break-glass sessions (?all=true: every session, with its state); never tokens.",
              list_sessions_route(env));
  surface.add(routes, m::post, "/v1/admin/break-glass/{id}/end", admin_access::break_glass,
              "End a break-glass session early.", end_route(env));
  surface.add(routes, m::get, "/v1/admin/audit", admin_access::read,
              "The audit log of admin writes, newest first (?limit=, ?cursor=).", audit_route(env));
}

} // namespace clean::http
