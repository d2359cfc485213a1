#include "http/admin_routes.hpp"

#include "actors/interfaces.hpp"
#include "http/gateway.hpp"

#include <caf/sec.hpp>

#include <memory>

namespace clean::http {

namespace {

constexpr auto tree_timeout = std::chrono::seconds(3);

response retry_later(std::string_view code, std::string_view message) {
  auto res = error_response(bhttp::status::service_unavailable, code, message);
  res.set(bhttp::field::retry_after, "1");
  return res;
}

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

response actor_error_response(const caf::error& err) {
  if (is(err, errc::mailbox_full))
    return retry_later("overloaded", "the service is overloaded; retry shortly");
  if (is(err, errc::no_such_actor))
    return error_response(bhttp::status::not_found, "not_found", "no supervised actor at that path");
  if (err == caf::sec::request_timeout)
    return retry_later("timeout", "an internal component did not answer in time");
  if (err == caf::sec::request_receiver_down)
    return retry_later("unavailable", "an internal component is restarting");
  if (err == caf::sec::invalid_argument)
    return error_response(bhttp::status::conflict, "conflict", caf::to_string(err));
  return error_response(bhttp::status::internal_server_error, "internal_error", "internal error");
}

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
