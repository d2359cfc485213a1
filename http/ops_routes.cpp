#include "http/ops_routes.hpp"

#include "http/gateway.hpp"
#include "http/health_report.hpp"
#include "telemetry/basic_summary.hpp"
#include "telemetry/logging.hpp"
#include "telemetry/metrics.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <prometheus/counter.h>
#include <prometheus/family.h>

#include <caf/sec.hpp>
#include <nlohmann/json.hpp>

#include <optional>

namespace clean::http {

struct ops_routes::impl {
  ops_config config;
  std::function<health_actor()> find_health;
  const telemetry::metrics_registry& metrics;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  boost::asio::thread_pool render_thread{1};
  std::array<prometheus::Counter*, 3> auth_failures{};

  impl(ops_config c, std::function<health_actor()> h, const telemetry::metrics_registry& m) :
      config(std::move(c)), find_health(std::move(h)), metrics(m) {
    auto& family = *metrics.http().metrics_auth_failures;
    auth_failures[0] = &family.Add({{"reason", "missing_token"}});
    auth_failures[1] = &family.Add({{"reason", "wrong_token"}});
    auth_failures[2] = &family.Add({{"reason", "not_configured"}});
  }

  void liveness(std::string_view endpoint, request_context& ctx, const responder& reply) {
    if (query_has(ctx.query, "verbose"))
      return reply(
          text_response(bhttp::status::ok, "[+]ping ok\n" + std::string{endpoint} + " check passed\n"));
    auto uptime =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started).count();
    reply(json_response(bhttp::status::ok, R"({"status":"ok","version":")" + config.version +
                                               R"(","uptime_seconds":)" + std::to_string(uptime) + "}"));
  }

  void readiness(request_context& ctx, responder reply) {
    auto verbose = query_has(ctx.query, "verbose");
    auto excluded = excluded_checks(ctx.query);
    auto request_id = std::string{ctx.request_id};
    auto answer = [reply, verbose, excluded](const readiness_report& report,
                                             const std::optional<supervisor_status>& sup) {
      auto checks = readiness_checks(report, excluded, sup ? &*sup : nullptr);
      auto status = all_ok(checks) ? bhttp::status::ok : bhttp::status::service_unavailable;
      reply(verbose ? text_response(status, verbose_text("readyz", checks))
                    : json_response(status, readiness_json(report, checks, sup ? &*sup : nullptr)));
    };
    // Second step: the supervision tree's view, then answer.
    auto with_tree = [this, answer, &gw = ctx.actors](const readiness_report& report) {
      if (!config.supervision_root)
        return answer(report, std::nullopt);
      gw.request(
          config.supervision_root, std::chrono::milliseconds(500),
          [answer, report](std::string& tree) { answer(report, supervisor_status_from(tree)); },
          [answer, report](caf::error& err) {
            supervisor_status sup;
            sup.error = caf::to_string(err);
            answer(report, sup);
          },
          tree_atom::value);
    };
    auto health = find_health();
    if (!health) {
      readiness_report report;
      report.migrations_head = config.migrations_head;
      report.database.error = "the health actor is restarting";
      return with_tree(report);
    }
    ctx.actors.request(
        health, config.readyz_timeout, [with_tree](readiness_report& report) { with_tree(report); },
        [with_tree, request_id, head = config.migrations_head](caf::error& err) {
          // The health actor itself answers within its probe timeout; getting
          // here means it is overloaded, restarting or gone: also "not ready".
          telemetry::log(spdlog::level::warn, "readyz_unanswered", "health actor did not answer",
                         {{"request_id", request_id}, {"error", caf::to_string(err)}});
          readiness_report report;
          report.migrations_head = head;
          report.database.error = is(err, errc::mailbox_full) ? "health actor overloaded (request shed)"
                                                              : "health check did not answer in time";
          with_tree(report);
        },
        readyz_atom::value);
  }

  /// The token rules of /metrics (and /metrics/basic): the refusal to send,
  /// or nothing when the caller may read.
  std::optional<response> refusal(request_context& ctx) {
    auto decision =
        config.metrics_access.check(ctx.req[bhttp::field::authorization], query_values(ctx.query, "token"));
    switch (decision) {
      case access_decision::granted:
        return std::nullopt;
      case access_decision::not_configured:
        auth_failures[2]->Increment();
        telemetry::log(spdlog::level::err, "metrics_token_missing",
                       "METRICS_TOKEN is not set in production; refusing to expose metrics",
                       {{"request_id", ctx.request_id}});
        return error_response(bhttp::status::internal_server_error, "metrics_token_not_configured",
                              "METRICS_TOKEN must be set in production");
      case access_decision::missing_token:
      case access_decision::wrong_token:
        break;
    }
    auth_failures[decision == access_decision::missing_token ? 0 : 1]->Increment();
    auto res = error_response(bhttp::status::unauthorized, "unauthorized",
                              decision == access_decision::missing_token
                                  ? "a metrics token is required (Authorization: Bearer or ?token=)"
                                  : "the metrics token is not valid");
    res.set(bhttp::field::www_authenticate, R"(Bearer realm="metrics")");
    return res;
  }

  void scrape(request_context& ctx, responder reply) {
    if (auto refused = refusal(ctx))
      return reply(std::move(*refused));
    boost::asio::post(render_thread, [this, reply] {
      auto res = text_response(bhttp::status::ok, metrics.render());
      res.set(bhttp::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
      res.set(bhttp::field::cache_control, "no-store");
      reply(std::move(res));
    });
  }

  void basic(request_context& ctx, responder reply) {
    if (auto refused = refusal(ctx))
      return reply(std::move(*refused));
    boost::asio::post(render_thread, [this, reply] {
      auto now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
      auto res = json_response(bhttp::status::ok, telemetry::basic_summary(metrics.collect(), now).dump());
      res.set(bhttp::field::cache_control, "no-store");
      reply(std::move(res));
    });
  }
};

ops_routes::ops_routes(ops_config config, std::function<health_actor()> find_health,
                       const telemetry::metrics_registry& metrics) :
    impl_(std::make_shared<impl>(std::move(config), std::move(find_health), metrics)) {}

ops_routes::~ops_routes() {
  impl_->render_thread.join();
}

void ops_routes::install(route_table& routes) {
  auto d = impl_;
  routes.add(method_kind::get, "/healthz",
             [d](request_context& ctx, responder reply) { d->liveness("healthz", ctx, reply); });
  routes.add(method_kind::get, "/livez",
             [d](request_context& ctx, responder reply) { d->liveness("livez", ctx, reply); });
  routes.add(method_kind::get, "/readyz",
             [d](request_context& ctx, responder reply) { d->readiness(ctx, std::move(reply)); });
  routes.add(method_kind::get, "/metrics",
             [d](request_context& ctx, responder reply) { d->scrape(ctx, std::move(reply)); });
  routes.add(method_kind::get, "/metrics/basic",
             [d](request_context& ctx, responder reply) { d->basic(ctx, std::move(reply)); });
}

} // namespace clean::http
