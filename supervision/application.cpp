#include "supervision/application.hpp"

#include "config/schedule.hpp"
#include "config/settings.hpp"
#include "http/admin_routes.hpp"
#include "http/admin_surface.hpp"
#include "http/api_routes.hpp"
#include "http/delivery_routes.hpp"
#include "http/jobs_routes.hpp"
#include "http/ops_routes.hpp"
#include "http/server.hpp"
#include "http/stripe_routes.hpp"
#include "persistence/connection.hpp"
#include "persistence/migrations.hpp"
#include "supervision/tree.hpp"
#include "telemetry/logging.hpp"
#include "telemetry/metrics.hpp"

#include "supervision/actor_config.hpp"
#include <caf/actor_system.hpp>

#include <caf/actor_system_config.hpp>
#include <pqxx/pqxx>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <pthread.h>
#include <thread>
#include <unistd.h>

namespace clean::supervision {

using telemetry::log;

namespace {

/// Shutdown signals are blocked in every thread and consumed by one waiter,
/// so no signal handler ever runs inside library code.
sigset_t shutdown_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}

class signal_waiter {
public:
  signal_waiter() : set_(shutdown_signals()) {
    // Normally done in main already; repeated here for callers that did not.
    pthread_sigmask(SIG_BLOCK, &set_, nullptr);
  }

  int wait() {
    int sig = 0;
    sigwait(&set_, &sig);
    return sig;
  }

  /// Waits up to `timeout` for another signal; true if one came.
  bool wait_for(std::chrono::milliseconds timeout) {
    timespec ts{static_cast<time_t>(timeout.count() / 1000),
                static_cast<long>(timeout.count() % 1000) * 1000000};
    while (true) {
      int rc = sigtimedwait(&set_, nullptr, &ts);
      if (rc > 0)
        return true;
      if (errno != EINTR)
        return false;
    }
  }

private:
  sigset_t set_{};
};

http::server_config server_config(const config::settings& s) {
  http::server_config c;
  c.host = s.host;
  c.port = s.port;
  c.max_body_bytes = s.http_max_body_bytes;
  c.max_header_bytes = s.http_max_header_bytes;
  c.read_timeout = s.http_read_timeout;
  c.idle_timeout = s.http_idle_timeout;
  c.max_connections = s.http_max_connections;
  c.io_threads = s.http_io_threads;
  c.access_log = s.access_log;
  return c;
}

http::admin_config admin_config(const config::settings& s, const tree& actors,
                                telemetry::metrics_registry& metrics) {
  http::admin_config c;
  c.username = s.admin_username;
  c.password = s.admin_password;
  c.read_only = s.admin_read_only;
  c.break_glass_max_ttl_minutes = s.break_glass_max_ttl_minutes;
  c.max_auth_failures = s.admin_auth_max_failures;
  c.lockout = s.admin_auth_lockout;
  c.pool = [&actors] {
    return actors.db_pool();
  };
  c.request_timeout = s.api_request_timeout;
  c.refresh_gauges = [&actors] {
    actors.refresh_db_gauges();
  };
  c.metrics = &metrics.admin();
  return c;
}

http::jobs_routes_config jobs_routes_config(const config::settings& s, const tree& actors) {
  http::jobs_routes_config c;
  for (const auto& job : s.jobs.jobs) {
    std::string error;
    auto sched = config::schedule::parse(job.schedule, error);
    auto period = sched ? sched->period() : 0;
    auto overdue = period > 0 && period < INT64_MAX / 1000 ? period * s.jobs.overdue_factor : 0;
    c.jobs.push_back({job.name, job.schedule, period, overdue});
  }
  c.heartbeat_ttl_seconds = s.jobs.heartbeat_ttl.count();
  c.pool = [&actors] {
    return actors.db_pool();
  };
  c.request_timeout = s.api_request_timeout;
  c.poke = [&actors](const std::string& name) {
    actors.poke_job(name);
  };
  return c;
}

http::delivery_routes_config delivery_routes_config(const config::settings& s, const tree& actors) {
  http::delivery_routes_config c;
  c.pool = [&actors] {
    return actors.db_pool();
  };
  c.request_timeout = s.api_request_timeout;
  c.circuit_owner = [&actors](const std::string& name) {
    if (name == "stripe")
      return actors.stripe();
    return name == "sms" ? actors.sms() : name == "email" ? actors.email() : caf::actor{};
  };
  c.board = actors.circuits();
  c.refresh_gauges = [&actors] {
    actors.refresh_db_gauges();
  };
  return c;
}

http::stripe_routes_config stripe_routes_config(const config::settings& s, const tree& actors,
                                                const telemetry::metrics_registry& metrics) {
  http::stripe_routes_config c;
  c.secrets = s.stripe.webhook_secrets;
  c.tolerance = s.stripe.tolerance;
  c.webhook = [&actors] {
    return actors.stripe();
  };
  c.pool = [&actors] {
    return actors.db_pool();
  };
  c.request_timeout = s.api_request_timeout;
  c.settled_cache = static_cast<size_t>(s.stripe.settled_cache);
  c.metrics = &metrics.stripe();
  return c;
}

/// Last resort: if actors refuse to stop (a thread stuck in a blocking call
/// to a hung database), do not hang the deployment forever.
void arm_exit_watchdog(std::chrono::milliseconds grace) {
  std::thread([grace] {
    std::this_thread::sleep_for(grace);
    log(spdlog::level::err, "shutdown_stuck", "actors did not stop in time; exiting anyway",
        {{"grace_ms", static_cast<int64_t>(grace.count())}});
    telemetry::shutdown_logging();
    std::_Exit(1);
  }).detach();
}

} // namespace

void block_shutdown_signals() {
  auto set = shutdown_signals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

int serve(const config::settings& settings, const char* version, serve_mode mode) {
  if (settings.database_url.empty()) {
    log(spdlog::level::err, "config_invalid", "DATABASE_URL is not set; serve needs a PostgreSQL database");
    return 2;
  }
  signal_waiter signals;
  telemetry::metrics_registry metrics{version, mode != serve_mode::http_only};
  auto exit_code = 0;
  {
    caf::actor_system_config cfg = actor_config(settings);
    caf::actor_system system{cfg};
    tree actors{system, settings, metrics, mode != serve_mode::http_only};
    // The root giving up means nothing is supervised any more: stop the
    // process (non-zero) instead of answering /healthz with nothing behind it.
    actors.on_root_failure([](const std::string& reason) {
      log(spdlog::level::critical, "supervision_root_failed", "the root supervisor failed; shutting down",
          {{"reason", reason}});
      ::kill(::getpid(), SIGTERM);
    });

    if (!actors.wait_started(std::chrono::seconds(10)))
      log(spdlog::level::warn, "tree_start_slow", "actors not all started after 10 s; serving anyway");

    http::route_table routes;
    http::ops_config ops_cfg;
    ops_cfg.version = version;
    ops_cfg.metrics_access = {settings.production(), settings.metrics_tokens};
    ops_cfg.readyz_timeout = settings.readyz_db_timeout + std::chrono::milliseconds(200);
    ops_cfg.supervision_root = actors.root();
    ops_cfg.migrations_head = persistence::head_version();
    http::ops_routes ops{ops_cfg, [&actors] { return actors.health(); }, metrics};
    ops.install(routes);
    // The jobs-runner process serves only the operational endpoints.
    http::admin_surface admin{admin_config(settings, actors, metrics)};
    if (mode != serve_mode::http_only && settings.production() &&
        settings.email.adapter == config::email_adapter::file)
      log(spdlog::level::warn, "email_file_adapter",
          "EMAIL_ADAPTER is file in production: emails are written under EMAIL_FILE_DIR, not sent");
    if (mode != serve_mode::jobs_only) {
      admin.install(routes);
      http::install_supervisor_routes(admin, routes, {settings.fault_injection, actors.root()});
      http::install_jobs_routes(admin, routes, jobs_routes_config(settings, actors));
      http::install_delivery_routes(admin, routes, delivery_routes_config(settings, actors));
      http::install_stripe_routes(admin, routes, stripe_routes_config(settings, actors, metrics));
      if (!settings.admin_enabled())
        log(spdlog::level::warn, "admin_disabled",
            "ADMIN_BASIC_USERNAME/ADMIN_BASIC_PASSWORD are unset: every /v1/admin route answers 403");
      if (settings.stripe.webhook_secrets.empty())
        log(spdlog::level::warn, "stripe_webhook_not_configured",
            "STRIPE_WEBHOOK_SECRET is unset: POST /v1/webhooks/stripe answers 500 (Stripe keeps retrying)");
      http::api_config api_cfg;
      api_cfg.pool = [&actors] {
        return actors.db_pool();
      };
      api_cfg.request_timeout = settings.api_request_timeout;
      api_cfg.key_cache_ttl = settings.api_key_cache_ttl;
      // Half the pool: fuller batches, and the other half
      // for writes and webhooks.
      api_cfg.read_batches_in_flight = std::max(1, settings.database_pool_size / 2);
      api_cfg.metrics = &metrics.api();
      http::install_api_routes(routes, std::move(api_cfg));
    }

    http::server server{server_config(settings), routes, metrics.http(), system};
    uint16_t port = 0;
    try {
      port = server.listen();
    } catch (const std::exception& e) {
      log(spdlog::level::err, "listen_failed", e.what());
      actors.shutdown();
      return 1;
    }
    server.start();
    log(spdlog::level::info, "listening", "serving HTTP",
        {{"host", settings.host},
         {"port", static_cast<int64_t>(port)},
         {"env", settings.production() ? "production" : "development"},
         {"mode", mode == serve_mode::all         ? "all"
                  : mode == serve_mode::http_only ? "http"
                                                  : "jobs"},
         {"database", persistence::redact(settings.database_url)},
         {"version", version}});

    int sig = signals.wait();
    auto drain = actors.root_failed() ? std::chrono::milliseconds{0} : settings.shutdown_drain;
    log(spdlog::level::info, "shutdown_started", "signal received; /readyz now reports not ready",
        {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"},
         {"drain_ms", static_cast<int64_t>(drain.count())},
         {"timeout_ms", static_cast<int64_t>(settings.shutdown_timeout.count())}});
    actors.begin_drain();
    // Keep serving while load balancers notice the 503 and stop routing
    // here; a second signal skips the wait.
    if (drain.count() > 0 && signals.wait_for(drain))
      log(spdlog::level::warn, "shutdown_hurried", "second signal: skipping the drain delay");

    server.stop_accepting();
    auto clean = server.drain(settings.shutdown_timeout);
    if (!clean)
      log(spdlog::level::warn, "shutdown_timeout", "in-flight requests did not finish in time; closing them",
          {{"open_connections", server.open_connections()}});
    server.stop();
    arm_exit_watchdog(std::chrono::seconds(5));
    actors.shutdown();
    log(spdlog::level::info, "shutdown_complete", "stopped accepting and finished in-flight requests");
    // A drain timeout is logged above; the shutdown itself was orderly.
    exit_code = actors.root_failed() ? 1 : 0;
  }
  return exit_code;
}

namespace {

std::unique_ptr<pqxx::connection> connect_for_migrations(const config::settings& settings) {
  persistence::connect_options opts;
  opts.application_name = "clean-service migrate";
  opts.connect_timeout = std::chrono::seconds{5};
  return persistence::connect(settings.database_url, opts);
}

int print_status(pqxx::connection& db) {
  auto st = persistence::read_migration_status(db);
  bool edited = false;
  std::printf("%-8s %-40s %-22s %s\n", "VERSION", "NAME", "APPLIED AT", "STATE");
  for (auto& a : st.applied) {
    edited |= !a.checksum_matches;
    std::printf("%-8lld %-40s %-22s %s\n", static_cast<long long>(a.version), a.name.c_str(),
                a.applied_at.c_str(), a.checksum_matches ? "applied" : "applied (file changed since!)");
  }
  for (auto& p : st.pending)
    std::printf("%-8lld %-40.*s %-22s %s\n", static_cast<long long>(p.version),
                static_cast<int>(p.name.size()), p.name.data(), "-", "pending");
  std::printf("current %lld, head %lld: %s\n", static_cast<long long>(st.current),
              static_cast<long long>(st.head), st.at_head() ? "up to date" : "migrations pending");
  return st.at_head() && !edited ? 0 : 1;
}

} // namespace

int migrate(const config::settings& settings, bool status_only) {
  if (settings.database_url.empty()) {
    log(spdlog::level::err, "config_invalid", "DATABASE_URL is not set; migrate needs a PostgreSQL database");
    return 2;
  }
  try {
    auto db = connect_for_migrations(settings);
    if (status_only)
      return print_status(*db);
    auto applied = persistence::apply_migrations(*db, [](const persistence::migration& m) {
      log(spdlog::level::info, "migration_applied", "applied migration",
          {{"version", m.version}, {"name", m.name}});
    });
    log(spdlog::level::info, "migrations_done",
        applied.empty() ? "schema already at head" : "schema migrated",
        {{"applied", applied.size()}, {"head", persistence::head_version()}});
    return 0;
  } catch (const std::exception& e) {
    log(spdlog::level::err, "migration_failed", "migration failed; nothing partial was committed",
        {{"error", e.what()}, {"database", persistence::redact(settings.database_url)}});
    return 1;
  }
}

} // namespace clean::supervision
