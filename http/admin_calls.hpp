#pragma once

// Internal to the admin surface (admin_surface.cpp, admin_own_routes.cpp):
// what an admin request carries across its asynchronous steps, and how its
// answer is counted and audited.

#include "actors/interfaces.hpp"
#include "http/admin_surface.hpp"
#include "http/gateway.hpp"

#include <functional>
#include <string>
#include <vector>

namespace clean::http {

struct admin_call {
  const admin_config* cfg = nullptr;
  /// Keeps `cfg` (owned by the surface) alive while the call is pending.
  std::shared_ptr<const void> keep_alive;
  gateway* actors = nullptr;
  std::string route;  // template, the metric label
  std::string action; // "POST /v1/admin/..." for the audit log
  std::string target; // path parameters
  std::string reason; // X-Audit-Reason
  std::string request_id;
  std::string client;

  persistence::admin_origin origin(const admin_caller& who) const;

  /// Counts the answer in admin_requests_total and sends it.
  void finish(const responder& reply, response res, std::string_view outcome) const;

  /// Counts, logs an `admin_audit` line and stores the audit row, then
  /// sends the answer (also when storing fails: the action has happened).
  void audit_and_reply(const admin_caller& who, response res, const responder& reply,
                       std::string_view outcome) const;

  /// Runs `payload` on a pooled connection within `budget` (default: the
  /// request budget).
  template <class OnOk, class OnError>
  void database(std::string op, caf::message payload, OnOk on_ok, OnError on_error,
                std::chrono::milliseconds budget = std::chrono::milliseconds{0}) const {
    auto pool = cfg->pool ? cfg->pool() : caf::actor{};
    if (!pool) {
      auto err = make_error(errc::database_unavailable, "database_unavailable",
                            "the database pool is restarting; retry shortly");
      return on_error(err);
    }
    auto timeout = budget.count() > 0 ? std::min(budget, cfg->request_timeout) : cfg->request_timeout;
    auto deadline = std::chrono::duration_cast<std::chrono::nanoseconds>(
                        (std::chrono::steady_clock::now() + timeout).time_since_epoch())
                        .count();
    actors->request(pool, timeout + std::chrono::seconds(1), std::move(on_ok), std::move(on_error),
                    db_call{std::move(op), deadline, std::move(payload)});
  }
};

/// The `outcome` label of an answer: success, unauthorized, throttled,
/// forbidden, client_error or error.
std::string_view outcome_of(const response& res);

struct admin_route_info {
  std::string method;
  std::string pattern;
  admin_access access;
  std::string summary;
};

/// GET /v1/admin, the break-glass routes and GET /v1/admin/audit.
void install_admin_own_routes(admin_surface& surface, route_table& routes, const admin_config& cfg,
                              std::function<std::vector<admin_route_info>()> catalogue);

} // namespace clean::http
