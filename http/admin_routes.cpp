#include "http/admin_routes.hpp"

#include "actors/interfaces.hpp"
#include "http/gateway.hpp"

#include <memory>

namespace clean::http {

namespace {

constexpr auto tree_timeout = std::chrono::seconds(3);

bool refuse_in_production(const admin_config& cfg, const responder& reply) {
  if (!cfg.production)
    return false;
  reply(error_response(bhttp::status::forbidden, "admin_disabled",
                       "the admin API is disabled in production until admin authentication exists"));
  return true;
}

void fault(const std::shared_ptr<admin_config>& cfg, request_context& ctx, responder reply,
           const char* kind) {
  if (refuse_in_production(*cfg, reply))
    return;
  if (!cfg->fault_injection)
    return reply(error_response(bhttp::status::forbidden, "fault_injection_disabled",
                                "fault injection is off; start the service with FAULT_INJECTION=1"));
  auto path = std::string{param(ctx.params, "path")};
  ctx.actors.request(
      cfg->supervision_root, tree_timeout,
      [reply](std::string& ack) { reply(json_response(bhttp::status::accepted, std::move(ack))); },
      [reply](caf::error& err) { reply(actor_error_response(err)); }, fault_atom::value, path,
      std::string{kind});
}

} // namespace

void install_admin_routes(route_table& routes, admin_config config) {
  auto cfg = std::make_shared<admin_config>(std::move(config));
  routes.add(method_kind::get, "/v1/admin/supervisor", [cfg](request_context& ctx, responder reply) {
    if (refuse_in_production(*cfg, reply))
      return;
    ctx.actors.request(
        cfg->supervision_root, tree_timeout,
        [reply](std::string& tree) { reply(json_response(bhttp::status::ok, std::move(tree))); },
        [reply](caf::error& err) { reply(actor_error_response(err)); }, tree_atom::value);
  });
  routes.add(method_kind::post, "/v1/admin/supervisor/{path...}/crash",
             [cfg](request_context& ctx, responder reply) { fault(cfg, ctx, std::move(reply), "crash"); });
  routes.add(method_kind::post, "/v1/admin/supervisor/{path...}/hang",
             [cfg](request_context& ctx, responder reply) { fault(cfg, ctx, std::move(reply), "hang"); });
}

} // namespace clean::http
