#include "http/jobs_routes.hpp"

#include "actors/interfaces.hpp"
#include "http/database_call.hpp"
#include "http/gateway.hpp"

#include <caf/make_message.hpp>

namespace clean::http {

namespace {

using config_ptr = std::shared_ptr<const jobs_routes_config>;
using persistence::api_result;

template <class OnOk>
void database(const config_ptr& cfg, request_context& ctx, const responder& reply, std::string op,
              caf::message payload, OnOk on_ok) {
  call_database(ctx, cfg->pool, cfg->request_timeout, reply, std::move(op), std::move(payload),
                std::move(on_ok));
}

admin_handler status_route(config_ptr cfg) {
  return [cfg](request_context& ctx, const admin_caller&, responder reply) {
    database(cfg, ctx, reply, "jobs.status",
             caf::make_message(jobs_status_atom::value, cfg->jobs, cfg->heartbeat_ttl_seconds),
             [reply](api_result& r) { reply(json_response(static_cast<bhttp::status>(r.status), r.body)); });
  };
}

admin_handler control_route(config_ptr cfg, const char* action) {
  return [cfg, action](request_context& ctx, const admin_caller&, responder reply) {
    auto name = std::string{param(ctx.params, "name")};
    database(cfg, ctx, reply, "jobs.control",
             caf::make_message(jobs_control_atom::value, name, std::string{action}),
             [cfg, name, reply](api_result& r) {
               if (cfg->poke)
                 cfg->poke(name);
               reply(json_response(static_cast<bhttp::status>(r.status), r.body));
             });
  };
}

} // namespace

void install_jobs_routes(admin_surface& admin, route_table& routes, jobs_routes_config config) {
  auto cfg = std::make_shared<const jobs_routes_config>(std::move(config));
  using m = method_kind;
  admin.add(routes, m::get, "/v1/admin/jobs/status", admin_access::read,
            "Per job: schedule, state, last heartbeat/success/error, consecutive failures, next run; and the "
            "runners' heartbeats.",
            status_route(cfg));
  admin.add(routes, m::post, "/v1/admin/jobs/{name}/run", admin_access::write,
            "Make a job due now; a runner starts it at its next poll.", control_route(cfg, "run"));
  admin.add(routes, m::post, "/v1/admin/jobs/{name}/pause", admin_access::write,
            "Pause a job on every instance (a run in progress finishes).", control_route(cfg, "pause"));
  admin.add(routes, m::post, "/v1/admin/jobs/{name}/resume", admin_access::write, "Resume a paused job.",
            control_route(cfg, "resume"));
}

} // namespace clean::http
