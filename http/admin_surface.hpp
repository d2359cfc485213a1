#pragma once

// The admin API's gate. Every /v1/admin/* route is registered through an
// `admin_surface`, which puts the same checks in front of each handler:
//
//   throttle (429 after repeated failures from one address)
//   -> authenticate: HTTP Basic, or a break-glass token on its own (401)
//   -> writes: refused in read-only mode unless a valid X-Break-Glass-Token
//      comes with them (403); an expired or ended token is refused (403)
//   -> handler, whose answer is counted (admin_requests_total) and, for
//      writes, audited (a row in admin_audit and an `admin_audit` log line)
//      before it reaches the client.
//
// It also serves the surface's own routes: GET /v1/admin (the route
// catalogue), break-glass sessions and the audit log.

#include "http/exchange.hpp"

#include <caf/actor.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>

namespace clean::telemetry {
struct admin_metrics;
}

namespace clean::http {

struct admin_config {
  /// Both empty: the admin API is off (every route answers 403).
  std::string username;
  std::string password;
  bool read_only = false;
  int break_glass_max_ttl_minutes = 60;
  int max_auth_failures = 10;
  std::chrono::seconds lockout{300};
  /// The current database pool (null while it restarts).
  std::function<caf::actor()> pool;
  /// Budget of one database call made for an admin request.
  std::chrono::milliseconds request_timeout{10000};
  /// Asks for a fresh sample of break_glass_sessions_active.
  std::function<void()> refresh_gauges;
  const telemetry::admin_metrics* metrics = nullptr;
};

/// Who is calling, once authenticated.
struct admin_caller {
  std::string user;
  /// The break-glass session whose token came with the request (0 = none).
  int64_t break_glass_session = 0;
  std::string break_glass_reason;
  /// Authenticated by the token alone (no Basic credentials).
  bool token_only = false;
};

using admin_handler = std::function<void(request_context&, const admin_caller&, responder)>;

enum class admin_access {
  read,       // any authenticated caller
  write,      // refused in read-only mode without a break-glass token; audited
  break_glass // starting/ending sessions: allowed in read-only mode, audited by the handler
};

class admin_surface {
public:
  explicit admin_surface(admin_config config);
  ~admin_surface();

  admin_surface(const admin_surface&) = delete;
  admin_surface& operator=(const admin_surface&) = delete;

  /// Registers `h` behind the gate and lists it in GET /v1/admin.
  void add(route_table& routes, method_kind method, const std::string& pattern, admin_access access,
           std::string summary, admin_handler h);

  /// GET /v1/admin, the break-glass routes and GET /v1/admin/audit.
  void install(route_table& routes);

  struct impl;

private:
  std::shared_ptr<impl> impl_;
};

} // namespace clean::http
