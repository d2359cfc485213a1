// `clean-service jobs run --job NAME --once | list | status`: the jobs from
// the command line, against the same database state the runners use.

#include "config/cli.hpp"
#include "config/schedule.hpp"
#include "config/settings.hpp"
#include "delivery/circuit_breaker.hpp"
#include "delivery/mail_adapters.hpp"
#include "jobs/run.hpp"
#include "persistence/connection.hpp"
#include "persistence/dead_letters.hpp"
#include "persistence/job_state.hpp"
#include "persistence/outbox.hpp"
#include "supervision/application.hpp"
#include "telemetry/logging.hpp"

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <unistd.h>

#include <cstdio>

namespace clean::supervision {

using telemetry::log;

namespace {

std::string names() {
  std::string out;
  for (const auto& j : jobs::all_jobs())
    out += (out.empty() ? "" : ", ") + j.name;
  return out;
}

const config::job_config* configured(const config::settings& s, const std::string& name) {
  for (const auto& j : s.jobs.jobs)
    if (j.name == name)
      return &j;
  return nullptr;
}

int list(const config::settings& s) {
  std::printf("%-18s %-16s %-9s %s\n", "JOB", "SCHEDULE", "MISSED", "WHAT IT DOES");
  for (const auto& def : jobs::all_jobs()) {
    const auto* cfg = configured(s, def.name);
    std::printf("%-18s %-16s %-9s %s\n", def.name.c_str(), cfg ? cfg->schedule.c_str() : "?",
                cfg && cfg->missed == config::missed_policy::skip ? "skip" : "catch_up",
                def.description.c_str());
  }
  return 0;
}

std::vector<persistence::job_store::job_info> infos(const config::settings& s) {
  std::vector<persistence::job_store::job_info> out;
  for (const auto& job : s.jobs.jobs) {
    std::string error;
    auto sched = config::schedule::parse(job.schedule, error);
    auto period = sched ? sched->period() : 0;
    out.push_back({job.name, job.schedule, period,
                   period > 0 && period < INT64_MAX / 1000 ? period * s.jobs.overdue_factor : 0});
  }
  return out;
}

std::string text(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null())
    return "-";
  return it->is_string() ? it->get<std::string>() : it->dump();
}

int status(pqxx::connection& db, const config::settings& s, bool json) {
  pqxx::read_transaction tx{db};
  auto st = persistence::job_store::status(tx, infos(s), s.jobs.heartbeat_ttl.count());
  if (json) {
    std::printf("%s\n", st.dump(2).c_str());
    return 0;
  }
  const auto& runner = st["runner"];
  std::printf("jobs-runner: last heartbeat %s%s (%zu instance(s))\n\n",
              text(runner, "last_heartbeat").c_str(), runner["stale"].get<bool>() ? " STALE" : "",
              runner["instances"].size());
  std::printf("%-18s %-8s %-9s %-24s %-24s %-8s %s\n", "JOB", "STATE", "FAILURES", "LAST SUCCESS", "NEXT RUN",
              "OVERDUE", "LAST ERROR");
  for (const auto& j : st["jobs"]) {
    std::string error = "-";
    if (j.contains("last_error") && j["last_error"].is_object())
      error = j["last_error"]["message"].get<std::string>();
    std::printf("%-18s %-8s %-9s %-24s %-24s %-8s %s\n", text(j, "name").c_str(), text(j, "state").c_str(),
                text(j, "consecutive_failures").c_str(), text(j, "last_success").c_str(),
                text(j, "next_run").c_str(), text(j, "overdue").c_str(), error.c_str());
  }
  return 0;
}

/// The CLI sends directly through the adapter, behind a breaker of its
/// own: a run against a provider that is down defers the rest of its
/// emails after a few failures instead of burning every retry.
delivery::email_sender direct_sender(std::shared_ptr<delivery::mail_adapter> adapter,
                                     const std::string& circuit, const config::breaker_settings& settings,
                                     const std::vector<persistence::circuit_override>& overrides) {
  auto breaker = std::make_shared<circuit_breaker>(circuit, settings);
  // On-call's forced state holds for the CLI too: a runbook rerun during a
  // forced-open outage must not burn retries.
  breaker->follow(overrides, std::chrono::steady_clock::now());
  return [adapter, breaker](const delivery::outbound_email& m) -> delivery::email_send_result {
    using clock = std::chrono::steady_clock;
    if (!breaker->try_acquire(clock::now()))
      return {{delivery::send_status::failed, "the " + breaker->name() + " circuit breaker is open", 0},
              true,
              std::max(breaker->retry_after(clock::now()), std::chrono::milliseconds{1000})};
    auto out = adapter->send(m);
    if (delivery::counts_against_provider(out.status))
      breaker->on_failure(clock::now());
    else
      breaker->on_success(clock::now());
    return {std::move(out), false, {}};
  };
}

int run_once(pqxx::connection& db, const config::settings& s, const jobs::job_definition& def) {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  std::vector<persistence::circuit_override> overrides;
  {
    pqxx::nontransaction tx{db};
    overrides = persistence::circuit_overrides::all(tx);
  }
  auto email = direct_sender(delivery::make_mail_adapter(s.email, s.jobs.email_file_dir), "email",
                             s.email.breaker, overrides);
  delivery::email_sender sms;
  if (s.sms.enabled())
    sms = direct_sender(delivery::make_sms_adapter(s.sms), "sms", s.sms.breaker, overrides);
  jobs::job_context ctx{db,      s.jobs,  s.database_url, s.public_base_url, {},
                        nullptr, nullptr, email,          nullptr,           sms};
  auto report = jobs::run_job(def, ctx, std::string{"cli:"} + host + ":" + std::to_string(::getpid()));
  switch (report.outcome) {
    case jobs::run_report::status::success:
      std::printf("%s: ok in %.2f s, %lld item(s): %s\n", def.name.c_str(), report.seconds,
                  static_cast<long long>(report.result.items), report.result.summary.c_str());
      return 0;
    case jobs::run_report::status::failure:
      std::fprintf(stderr, "%s: failed in %.2f s (%s): %s\n", def.name.c_str(), report.seconds,
                   report.reason.c_str(), report.error.c_str());
      return 1;
    case jobs::run_report::status::skipped:
      std::fprintf(stderr, "%s: not run: %s\n", def.name.c_str(), report.error.c_str());
      return 1;
  }
  return 1;
}

} // namespace

int check_command(const config::invocation& call) {
  if (call.cmd == config::command::jobs_run && !jobs::find_job(call.name)) {
    std::fprintf(stderr, "clean-service: unknown job '%s'; jobs: %s\n", call.name.c_str(), names().c_str());
    return 2;
  }
  std::printf("ok: the command would be accepted\n");
  return 0;
}

int run_jobs_command(const config::settings& settings, const config::invocation& call) {
  if (call.cmd == config::command::jobs_list)
    return list(settings);
  const jobs::job_definition* def = nullptr;
  if (call.cmd == config::command::jobs_run) {
    def = jobs::find_job(call.name);
    if (!def) {
      std::fprintf(stderr, "clean-service: unknown job '%s'; jobs: %s\n", call.name.c_str(), names().c_str());
      return 2;
    }
  }
  if (settings.database_url.empty()) {
    log(spdlog::level::err, "config_invalid", "DATABASE_URL is not set; jobs needs the database");
    return 2;
  }
  try {
    persistence::connect_options opts;
    opts.application_name = "clean-service jobs";
    opts.statement_timeout = settings.jobs.statement_timeout;
    auto db = persistence::connect(settings.database_url, opts);
    persistence::outbox::prepare(*db);
    if (def)
      return run_once(*db, settings, *def);
    return status(*db, settings, call.json);
  } catch (const pqxx::undefined_table&) {
    log(spdlog::level::err, "schema_missing",
        "the job tables do not exist; run `clean-service migrate` first");
    return 1;
  } catch (const std::exception& e) {
    log(spdlog::level::err, "jobs_command_failed", "jobs command failed",
        {{"error", e.what()}, {"database", persistence::redact(settings.database_url)}});
    return 1;
  }
}

} // namespace clean::supervision
