#include "http/admin_surface.hpp"

#include "actors/interfaces.hpp"
#include "http/admin_auth.hpp"
#include "http/admin_calls.hpp"
#include "persistence/digest.hpp"
#include "telemetry/logging.hpp"

#include <caf/make_message.hpp>

#include <optional>

namespace clean::http {

using telemetry::log;

namespace {

using steady = std::chrono::steady_clock;

constexpr const char* basic_challenge = R"(Basic realm="clean-service admin", charset="UTF-8")";
constexpr size_t max_token_length = 100;
constexpr size_t max_reason_length = 500;

std::string header(const request& req, std::string_view name) {
  auto v = req[boost::beast::string_view{name.data(), name.size()}];
  return std::string{v.data(), v.size()};
}

/// Every path parameter, for the audit log's `target`.
std::string target_of(const path_params& params) {
  std::string out;
  for (const auto& p : params) {
    if (!out.empty())
      out += ' ';
    out += params.size() == 1 ? p.value : std::string{p.name} + "=" + p.value;
  }
  return out;
}

/// An operator's note for the audit log (`X-Audit-Reason`), made safe to
/// store and log: control characters dropped, length bounded.
std::string audit_reason(std::string raw) {
  std::string out;
  for (unsigned char c : raw)
    if (c >= 0x20 && c != 0x7f)
      out.push_back(static_cast<char>(c));
  if (out.size() > max_reason_length)
    out.resize(max_reason_length);
  return out;
}

} // namespace

struct admin_surface::impl : std::enable_shared_from_this<admin_surface::impl> {
  struct route_entry {
    std::string method;
    std::string pattern;
    admin_access access;
    std::string summary;
    admin_handler handler;
  };

  explicit impl(admin_config c) : cfg(std::move(c)), throttle(cfg.max_auth_failures, cfg.lockout) {
    if (!cfg.username.empty() && !cfg.password.empty())
      credentials.emplace(cfg.username, cfg.password);
  }

  admin_config cfg;
  std::optional<admin_credentials> credentials;
  failure_throttle throttle;
  std::vector<std::shared_ptr<const route_entry>> catalogue;

  void gate(const std::shared_ptr<const route_entry>& r, request_context& ctx, responder reply);
  void refuse_login(const admin_call& call, const responder& reply, const char* reason);
  void after_basic(const std::shared_ptr<const route_entry>& r, request_context& ctx, admin_caller who,
                   responder reply);
  void with_token(const std::shared_ptr<const route_entry>& r, request_context& ctx, admin_caller who,
                  const std::string& token, responder reply);
  void run(const std::shared_ptr<const route_entry>& r, request_context& ctx, const admin_caller& who,
           responder reply);
  admin_call make_call(const route_entry& r, request_context& ctx);
};

admin_call admin_surface::impl::make_call(const route_entry& r, request_context& ctx) {
  admin_call call;
  call.cfg = &cfg;
  call.keep_alive = shared_from_this();
  call.actors = &ctx.actors;
  call.route = r.pattern;
  call.action = r.method + " " + r.pattern;
  call.target = target_of(ctx.params);
  call.reason = audit_reason(header(ctx.req, "X-Audit-Reason"));
  call.request_id = std::string{ctx.request_id};
  call.client = std::string{ctx.client_address};
  return call;
}

void admin_surface::impl::gate(const std::shared_ptr<const route_entry>& r, request_context& ctx,
                               responder reply) {
  auto call = make_call(*r, ctx);
  if (int wait = throttle.retry_after(call.client, steady::now()); wait > 0) {
    auto res = error_response(bhttp::status::too_many_requests, "too_many_failed_logins",
                              "too many failed admin logins from this address; retry later");
    res.set(bhttp::field::retry_after, std::to_string(wait));
    return call.finish(reply, std::move(res), "throttled");
  }
  if (!credentials)
    return call.finish(
        reply,
        error_response(bhttp::status::forbidden, "admin_disabled",
                       "the admin API is off: set ADMIN_BASIC_USERNAME and ADMIN_BASIC_PASSWORD"),
        "forbidden");
  auto authorization = header(ctx.req, "Authorization");
  auto token = header(ctx.req, "X-Break-Glass-Token");
  if (!authorization.empty()) {
    auto offered = parse_basic(authorization);
    if (!offered || !credentials->matches(*offered))
      return refuse_login(call, reply, offered ? "wrong_credentials" : "malformed_credentials");
    throttle.success(call.client);
    admin_caller who;
    who.user = std::move(offered->user);
    if (r->access == admin_access::write && !token.empty())
      return with_token(r, ctx, std::move(who), token, std::move(reply));
    return after_basic(r, ctx, std::move(who), std::move(reply));
  }
  if (!token.empty()) {
    // The token alone authenticates too: it was issued to an authenticated
    // admin, is short-lived, and every use is audited.
    admin_caller who;
    who.token_only = true;
    return with_token(r, ctx, std::move(who), token, std::move(reply));
  }
  refuse_login(call, reply, "missing_credentials");
}

void admin_surface::impl::refuse_login(const admin_call& call, const responder& reply, const char* reason) {
  int locked_for = throttle.failure(call.client, steady::now());
  // The offered user name is not logged: people paste passwords into it.
  log(spdlog::level::warn, "admin_auth_failed", "admin request refused: bad or missing credentials",
      {{"reason", reason},
       {"route", call.route},
       {"client", call.client},
       {"request_id", call.request_id},
       {"locked_out_seconds", locked_for}});
  auto res = error_response(bhttp::status::unauthorized, "unauthorized",
                            "admin credentials are required: HTTP Basic (ADMIN_BASIC_USERNAME / "
                            "ADMIN_BASIC_PASSWORD) or X-Break-Glass-Token");
  res.set(bhttp::field::www_authenticate, basic_challenge);
  call.finish(reply, std::move(res), "unauthorized");
}

void admin_surface::impl::after_basic(const std::shared_ptr<const route_entry>& r, request_context& ctx,
                                      admin_caller who, responder reply) {
  if (r->access == admin_access::write && cfg.read_only) {
    auto call = make_call(*r, ctx);
    auto res = error_response(bhttp::status::forbidden, "read_only_mode",
                              "admin writes are refused: ADMIN_READ_ONLY is on; start a break-glass session "
                              "(POST /v1/admin/break-glass/start) and send its X-Break-Glass-Token");
    return call.audit_and_reply(who, std::move(res), reply, "read_only");
  }
  run(r, ctx, who, std::move(reply));
}

void admin_surface::impl::with_token(const std::shared_ptr<const route_entry>& r, request_context& ctx,
                                     admin_caller who, const std::string& token, responder reply) {
  auto call = make_call(*r, ctx);
  auto self = shared_from_this();
  auto refuse_token = [self, call, reply, who](const char* code, const char* message) {
    if (who.token_only)
      return self->refuse_login(call, reply, "invalid_token");
    // An authenticated admin's write refused for its token: audited.
    call.audit_and_reply(who, error_response(bhttp::status::forbidden, code, message), reply, "forbidden");
  };
  if (token.size() > max_token_length || !token.starts_with("bg_"))
    return refuse_token("break_glass_invalid", "the break-glass token is not valid");
  // The request (and so `ctx`'s referents) lives until it is answered, and
  // `reply` keeps it alive: the context may be used after the round trip.
  request_context saved = ctx;
  call.database(
      "admin.break_glass_use", caf::make_message(bg_use_atom::value, persistence::sha256_hex(token)),
      [self, r, saved, who, reply, call](persistence::break_glass_grant& grant) mutable {
        // A valid token does not clear this address's failed logins: holding
        // one must not turn into unlimited guesses at the Basic password.
        if (who.token_only)
          who.user = grant.started_by;
        who.break_glass_session = grant.session_id;
        who.break_glass_reason = std::move(grant.reason);
        self->run(r, saved, who, std::move(reply));
      },
      [call, reply, refuse_token, who](caf::error& err) {
        if (is(err, errc::unauthenticated))
          return refuse_token("break_glass_invalid", "the break-glass token is not valid");
        auto m = map_error(err);
        if (m.status == bhttp::status::forbidden)
          log(spdlog::level::warn, "break_glass_refused", m.message,
              {{"code", m.code},
               {"route", call.route},
               {"client", call.client},
               {"request_id", call.request_id}});
        if (m.status == bhttp::status::forbidden && !who.token_only)
          return call.audit_and_reply(who, to_response(m), reply, "forbidden");
        call.finish(reply, to_response(m), m.status == bhttp::status::forbidden ? "forbidden" : "error");
      });
}

void admin_surface::impl::run(const std::shared_ptr<const route_entry>& r, request_context& ctx,
                              const admin_caller& who, responder reply) {
  auto call = make_call(*r, ctx);
  auto access = r->access;
  auto observed = reply.observed([call, who, access](response res, const responder& inner) {
    auto outcome = outcome_of(res);
    // Every use of a break-glass token is audited, reads included.
    if (access == admin_access::write || who.break_glass_session != 0)
      return call.audit_and_reply(who, std::move(res), inner, outcome);
    call.finish(inner, std::move(res), outcome);
  });
  r->handler(ctx, who, std::move(observed));
}

admin_surface::admin_surface(admin_config config) : impl_(std::make_shared<impl>(std::move(config))) {}

admin_surface::~admin_surface() = default;

void admin_surface::add(route_table& routes, method_kind method, const std::string& pattern,
                        admin_access access, std::string summary, admin_handler h) {
  auto entry = std::make_shared<const impl::route_entry>(
      impl::route_entry{std::string{method_name(method)}, pattern, access, std::move(summary), std::move(h)});
  impl_->catalogue.push_back(entry);
  std::weak_ptr<impl> weak = impl_;
  routes.add(method, pattern, [weak, entry](request_context& ctx, responder reply) {
    if (auto self = weak.lock())
      self->gate(entry, ctx, std::move(reply));
    else
      reply(error_response(bhttp::status::service_unavailable, "shutting_down", "the service is stopping"));
  });
}

void admin_surface::install(route_table& routes) {
  install_admin_own_routes(*this, routes, impl_->cfg, [weak = std::weak_ptr<impl>(impl_)] {
    std::vector<admin_route_info> out;
    if (auto self = weak.lock())
      for (const auto& r : self->catalogue)
        out.push_back({r->method, r->pattern, r->access, r->summary});
    return out;
  });
}

} // namespace clean::http
