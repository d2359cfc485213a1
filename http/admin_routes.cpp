#include "http/admin_routes.hpp"

#include "actors/interfaces.hpp"
#include "http/gateway.hpp"

#include <memory>

namespace clean::http {

namespace {

constexpr auto tree_timeout = std::chrono::seconds(3);

using config_ptr = std::shared_ptr<const supervisor_admin_config>;

admin_handler tree_route(config_ptr cfg) {
  return [cfg](request_context& ctx, const admin_caller&, responder reply) {
    ctx.actors.request(
        cfg->supervision_root, tree_timeout,
        [reply](std::string& tree) { reply(json_response(bhttp::status::ok, std::move(tree))); },
        [reply](caf::error& err) { reply(actor_error_response(err)); }, tree_atom::value);
  };
}

admin_handler fault_route(config_ptr cfg, const char* kind) {
  return [cfg, kind](request_context& ctx, const admin_caller&, responder reply) {
    if (!cfg->fault_injection)
      return reply(error_response(bhttp::status::forbidden, "fault_injection_disabled",
                                  "fault injection is off; start the service with FAULT_INJECTION=1"));
    auto path = std::string{param(ctx.params, "path")};
    ctx.actors.request(
        cfg->supervision_root, tree_timeout,
        [reply](std::string& ack) { reply(json_response(bhttp::status::accepted, std::move(ack))); },
        [reply](caf::error& err) { reply(actor_error_response(err)); }, fault_atom::value, path,
        std::string{kind});
  };
}

} // namespace

void install_supervisor_routes(admin_surface& admin, route_table& routes, supervisor_admin_config config) {
  auto cfg = std::make_shared<const supervisor_admin_config>(std::move(config));
  using m = method_kind;
  admin.add(routes, m::get, "/v1/admin/supervisor", admin_access::read,
            "The supervision tree: per actor path its state, restarts, heartbeat age and mailbox.",
            tree_route(cfg));
  admin.add(routes, m::post, "/v1/admin/supervisor/{path...}/crash", admin_access::write,
            "Drill (FAULT_INJECTION=1): crash the actor at {path}, e.g. root/http/health.",
            fault_route(cfg, "crash"));
  admin.add(routes, m::post, "/v1/admin/supervisor/{path...}/hang", admin_access::write,
            "Drill (FAULT_INJECTION=1): stop the actor at {path} heartbeating until its TTL kills it.",
            fault_route(cfg, "hang"));
}

} // namespace clean::http
