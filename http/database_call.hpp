#pragma once

// One pooled database call from a route handler: fails fast (503) while the
// pool restarts, passes the request's deadline on (so a late query is
// cancelled on the server) and answers errors in the one JSON error form.

#include "actors/interfaces.hpp"
#include "http/exchange.hpp"
#include "http/gateway.hpp"

#include <caf/actor.hpp>

#include <chrono>
#include <functional>
#include <string>

namespace clean::http {

template <class OnOk>
void call_database(request_context& ctx, const std::function<caf::actor()>& pool_of,
                   std::chrono::milliseconds timeout, const responder& reply, std::string op,
                   caf::message payload, OnOk on_ok) {
  auto pool = pool_of ? pool_of() : caf::actor{};
  if (!pool)
    return reply(actor_error_response(make_error(errc::database_unavailable, "database_unavailable",
                                                 "the database pool is restarting; retry shortly")));
  auto deadline = std::chrono::duration_cast<std::chrono::nanoseconds>(
                      (std::chrono::steady_clock::now() + timeout).time_since_epoch())
                      .count();
  ctx.actors.request(
      pool, timeout + std::chrono::seconds(1), std::move(on_ok),
      [reply](caf::error& err) { reply(actor_error_response(err)); },
      db_call{std::move(op), deadline, std::move(payload)});
}

} // namespace clean::http
