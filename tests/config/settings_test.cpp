#define CAF_SUITE config.settings
#include <caf/test/unit_test_impl.hpp>

#include "config/settings.hpp"

#include <algorithm>

using namespace clean::config;
using namespace std::chrono_literals;

namespace {

parse_result parse(environment env) {
  return parse_settings(env);
}

/// The one error for `name`, or "" when it parsed.
std::string error_for(const std::string& name, const std::string& value) {
  auto r = parse({{name, value}});
  if (r.value)
    return {};
  CAF_REQUIRE_EQUAL(r.errors.size(), 1u);
  return r.errors.front();
}

/// Production needs admin credentials; tests about other variables add them.
environment production(environment env) {
  env.emplace("APP_ENV", "production");
  env.emplace("ADMIN_BASIC_USERNAME", "oncall");
  env.emplace("ADMIN_BASIC_PASSWORD", "a-long-enough-password");
  return env;
}

bool mentions(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

} // namespace

CAF_TEST(defaults without any variable) {
  auto r = parse({});
  CAF_REQUIRE(r.value);
  auto& s = *r.value;
  CAF_CHECK(!s.production());
  CAF_CHECK_EQUAL(s.host, "127.0.0.1");
  CAF_CHECK_EQUAL(s.port, 8080);
  CAF_CHECK(s.database_url.empty());
  CAF_CHECK_EQUAL(s.database_pool_size, 8);
  CAF_CHECK_EQUAL(s.database_max_overflow, 4);
  CAF_CHECK(s.database_pool_timeout == 5000ms);
  CAF_CHECK(s.metrics_tokens.empty());
  CAF_CHECK_EQUAL(s.log_level, "info");
  CAF_CHECK(s.log_fmt == log_format::text);
  CAF_CHECK(s.shutdown_drain == 0ms);
}

CAF_TEST(production changes format and drain defaults) {
  auto r = parse(production({}));
  CAF_REQUIRE(r.value);
  CAF_CHECK(r.value->production());
  CAF_CHECK(r.value->log_fmt == log_format::json);
  CAF_CHECK(r.value->shutdown_drain == 5000ms);
  // Explicit values still win over environment-dependent defaults.
  r = parse(production({{"LOG_FORMAT", "text"}, {"SHUTDOWN_DRAIN_SECONDS", "0"}}));
  CAF_REQUIRE(r.value);
  CAF_CHECK(r.value->log_fmt == log_format::text);
  CAF_CHECK(r.value->shutdown_drain == 0ms);
}

CAF_TEST(every variable accepts a good value) {
  auto r = parse({{"APP_ENV", "development"},
                  {"HOST", "::1"},
                  {"PORT", "0"},
                  {"DATABASE_URL", "postgresql://u:secret@db:5432/clean"},
                  {"DATABASE_POOL_SIZE", "20"},
                  {"DATABASE_MAX_OVERFLOW", "0"},
                  {"DATABASE_POOL_TIMEOUT_SECONDS", "2.5"},
                  {"DATABASE_STATEMENT_TIMEOUT_SECONDS", "1.5"},
                  {"API_REQUEST_TIMEOUT_SECONDS", "4"},
                  {"API_KEY_CACHE_SECONDS", "0"},
                  {"METRICS_TOKEN", "new-token,old-token"},
                  {"LOG_LEVEL", "debug"},
                  {"LOG_FORMAT", "json"},
                  {"ACCESS_LOG", "false"},
                  {"HTTP_MAX_BODY_BYTES", "2048"},
                  {"HTTP_MAX_HEADER_BYTES", "4096"},
                  {"HTTP_READ_TIMEOUT_SECONDS", "3"},
                  {"HTTP_IDLE_TIMEOUT_SECONDS", "7"},
                  {"HTTP_MAX_CONNECTIONS", "100"},
                  {"HTTP_IO_THREADS", "2"},
                  {"ACTOR_THREADS", "3"},
                  {"SHUTDOWN_DRAIN_SECONDS", "1.5"},
                  {"SHUTDOWN_TIMEOUT_SECONDS", "9"},
                  {"READYZ_DB_TIMEOUT_SECONDS", "0.3"}});
  CAF_REQUIRE(r.value);
  auto& s = *r.value;
  CAF_CHECK_EQUAL(s.host, "::1");
  CAF_CHECK_EQUAL(s.port, 0);
  CAF_CHECK_EQUAL(s.database_url, "postgresql://u:secret@db:5432/clean");
  CAF_CHECK_EQUAL(s.database_pool_size, 20);
  CAF_CHECK_EQUAL(s.database_max_overflow, 0);
  CAF_CHECK(s.database_pool_timeout == 2500ms);
  CAF_CHECK(s.database_statement_timeout == 1500ms);
  CAF_CHECK(s.api_request_timeout == 4000ms);
  CAF_CHECK(s.api_key_cache_ttl == 0ms);
  CAF_REQUIRE_EQUAL(s.metrics_tokens.size(), 2u);
  CAF_CHECK_EQUAL(s.metrics_tokens[0], "new-token");
  CAF_CHECK_EQUAL(s.metrics_tokens[1], "old-token");
  CAF_CHECK_EQUAL(s.log_level, "debug");
  CAF_CHECK(s.log_fmt == log_format::json);
  CAF_CHECK(!s.access_log);
  CAF_CHECK_EQUAL(s.http_max_body_bytes, 2048u);
  CAF_CHECK_EQUAL(s.http_max_header_bytes, 4096u);
  CAF_CHECK(s.http_read_timeout == 3s);
  CAF_CHECK(s.http_idle_timeout == 7s);
  CAF_CHECK_EQUAL(s.http_max_connections, 100u);
  CAF_CHECK_EQUAL(s.http_io_threads, 2);
  CAF_CHECK_EQUAL(s.actor_threads, 3);
  CAF_CHECK(s.shutdown_drain == 1500ms);
  CAF_CHECK(s.shutdown_timeout == 9000ms);
  CAF_CHECK(s.readyz_db_timeout == 300ms);
}

CAF_TEST(every variable rejects a bad value and names it) {
  const std::vector<std::pair<std::string, std::string>> bad{
      {"APP_ENV", "staging"},
      {"HOST", "localhost:80"},
      {"PORT", "65536"},
      {"PORT", "-1"},
      {"PORT", "80x"},
      {"DATABASE_URL", "mysql-ish nonsense"},
      {"DATABASE_POOL_SIZE", "0"},
      {"DATABASE_MAX_OVERFLOW", "-3"},
      {"DATABASE_POOL_TIMEOUT_SECONDS", "never"},
      {"DATABASE_STATEMENT_TIMEOUT_SECONDS", "0"},
      {"API_REQUEST_TIMEOUT_SECONDS", "-2"},
      {"API_KEY_CACHE_SECONDS", "soon"},
      {"METRICS_TOKEN", "a,b,c"},
      {"METRICS_TOKEN", "has space"},
      {"METRICS_TOKEN", "trailing,"},
      {"LOG_LEVEL", "verbose"},
      {"LOG_FORMAT", "xml"},
      {"ACCESS_LOG", "yes please"},
      {"HTTP_MAX_BODY_BYTES", "0"},
      {"HTTP_MAX_HEADER_BYTES", "10"},
      {"HTTP_READ_TIMEOUT_SECONDS", "0"},
      {"HTTP_IDLE_TIMEOUT_SECONDS", "1.5"},
      {"HTTP_MAX_CONNECTIONS", "0"},
      {"HTTP_IO_THREADS", "100"},
      {"ACTOR_THREADS", "0"},
      {"SHUTDOWN_DRAIN_SECONDS", "-1"},
      {"SHUTDOWN_TIMEOUT_SECONDS", "nan"},
      {"READYZ_DB_TIMEOUT_SECONDS", "10"},
      {"FAULT_INJECTION", "maybe"},
      {"ADMIN_BASIC_USERNAME", "on call"},
      {"ADMIN_BASIC_USERNAME", "on:call"},
      {"ADMIN_READ_ONLY", "sometimes"},
      {"BREAK_GLASS_MAX_TTL_MINUTES", "0"},
      {"BREAK_GLASS_MAX_TTL_MINUTES", "1441"},
      {"ADMIN_AUTH_MAX_FAILURES", "0"},
      {"ADMIN_AUTH_LOCKOUT_SECONDS", "0"},
      {"JOB_BACKUP_SCHEDULE", "61 * * * *"},
      {"JOB_OUTBOX_DISPATCH_SCHEDULE", "often"},
      {"JOB_EMAIL_DLQ_MISSED", "sometimes"},
      {"JOB_HEARTBEAT_TTL_SECONDS", "0"},
      {"JOB_POLL_SECONDS", "0"},
      {"BOOKING_REMINDER_LEAD_HOURS", "-1"},
      {"EMAIL_MAX_ATTEMPTS", "0"},
      {"PUBLIC_BASE_URL", "ftp://example.com"},
      {"SUPERVISOR_BACKOFF_MIN_SECONDS", "-1"},
      {"SUPERVISOR_BACKOFF_MAX_SECONDS", "forever"},
  };
  for (auto& [name, value] : bad) {
    CAF_MESSAGE("checking " << name << "=" << value);
    auto err = error_for(name, value);
    CAF_CHECK(mentions(err, name));
    CAF_CHECK(mentions(err, "expected"));
  }
}

CAF_TEST(secrets are never echoed in errors) {
  auto err = error_for("METRICS_TOKEN", "s3cret s3cret");
  CAF_CHECK(!mentions(err, "s3cret"));
  err = error_for("DATABASE_URL", "pass=hunter2 oops");
  // key=value strings are accepted as libpq syntax; a URI with a bad scheme is not.
  CAF_CHECK(err.empty());
  err = error_for("DATABASE_URL", "mysql://root:hunter2@db");
  CAF_CHECK(mentions(err, "DATABASE_URL"));
  CAF_CHECK(!mentions(err, "hunter2"));
}

CAF_TEST(email settings are read and checked together) {
  auto r = parse({{"EMAIL_ADAPTER", "smtp"},
                  {"SMTP_URL", "smtp://mail.example:2525"},
                  {"SMTP_USERNAME", "clean"},
                  {"SMTP_PASSWORD", "pa55"},
                  {"SMTP_STARTTLS", "required"},
                  {"EMAIL_SEND_TIMEOUT_SECONDS", "7.5"},
                  {"EMAIL_BREAKER_WINDOW", "10"},
                  {"EMAIL_BREAKER_MIN_CALLS", "4"},
                  {"EMAIL_BREAKER_FAILURE_RATE_PERCENT", "30"},
                  {"EMAIL_BREAKER_OPEN_SECONDS", "12"},
                  {"EMAIL_BREAKER_HALF_OPEN_CALLS", "2"},
                  {"EMAIL_BREAKER_HALF_OPEN_MAX_SECONDS", "40"}});
  CAF_REQUIRE(r.value);
  const auto& e = r.value->email;
  CAF_CHECK(e.adapter == email_adapter::smtp);
  CAF_CHECK_EQUAL(e.smtp_url, "smtp://mail.example:2525");
  CAF_CHECK(e.starttls == smtp_tls::required);
  CAF_CHECK_EQUAL(e.send_timeout, 7500ms);
  CAF_CHECK_EQUAL(e.breaker.window, 10);
  CAF_CHECK_EQUAL(e.breaker.minimum_calls, 4);
  CAF_CHECK_EQUAL(e.breaker.failure_rate_percent, 30);
  CAF_CHECK_EQUAL(e.breaker.open_for, 12000ms);
  CAF_CHECK_EQUAL(e.breaker.half_open_calls, 2);
  CAF_CHECK_EQUAL(e.breaker.half_open_max, 40000ms);
  CAF_CHECK(parse({}).value->email.adapter == email_adapter::file);

  // What a chosen adapter needs is required, and named.
  CAF_CHECK(mentions(error_for("EMAIL_ADAPTER", "smtp"), "SMTP_URL"));
  CAF_CHECK(mentions(error_for("EMAIL_ADAPTER", "sendgrid"), "SENDGRID_API_KEY"));
  CAF_CHECK(mentions(error_for("EMAIL_ADAPTER", "pigeon"), "EMAIL_ADAPTER"));
  auto err = error_for("SMTP_URL", "http://user:hunter2@mail");
  CAF_CHECK(mentions(err, "SMTP_URL"));
  CAF_CHECK(!mentions(err, "hunter2"));
  CAF_CHECK(mentions(error_for("EMAIL_BREAKER_MIN_CALLS", "50"), "EMAIL_BREAKER_WINDOW"));
  CAF_CHECK(
      mentions(error_for("EMAIL_BREAKER_FAILURE_RATE_PERCENT", "0"), "EMAIL_BREAKER_FAILURE_RATE_PERCENT"));
  CAF_CHECK(mentions(error_for("SMTP_STARTTLS", "maybe"), "SMTP_STARTTLS"));
}

CAF_TEST(fault injection is refused in production) {
  auto r = parse({{"FAULT_INJECTION", "1"}});
  CAF_REQUIRE(r.value);
  CAF_CHECK(r.value->fault_injection);
  r = parse(production({{"FAULT_INJECTION", "1"}}));
  CAF_REQUIRE(!r.value);
  CAF_CHECK(mentions(r.errors.front(), "FAULT_INJECTION"));
  r = parse({{"SUPERVISOR_BACKOFF_MIN_SECONDS", "2"}, {"SUPERVISOR_BACKOFF_MAX_SECONDS", "1"}});
  CAF_REQUIRE(!r.value);
  CAF_CHECK(mentions(r.errors.front(), "SUPERVISOR_BACKOFF_MAX_SECONDS"));
}

CAF_TEST(admin settings are read) {
  auto r = parse({{"ADMIN_BASIC_USERNAME", "oncall"},
                  {"ADMIN_BASIC_PASSWORD", "short"},
                  {"ADMIN_READ_ONLY", "true"},
                  {"BREAK_GLASS_MAX_TTL_MINUTES", "15"},
                  {"ADMIN_AUTH_MAX_FAILURES", "3"},
                  {"ADMIN_AUTH_LOCKOUT_SECONDS", "30"}});
  CAF_REQUIRE(r.value);
  auto& s = *r.value;
  CAF_CHECK(s.admin_enabled());
  CAF_CHECK_EQUAL(s.admin_username, "oncall");
  CAF_CHECK_EQUAL(s.admin_password, "short"); // weak is allowed outside production
  CAF_CHECK(s.admin_read_only);
  CAF_CHECK_EQUAL(s.break_glass_max_ttl_minutes, 15);
  CAF_CHECK_EQUAL(s.admin_auth_max_failures, 3);
  CAF_CHECK(s.admin_auth_lockout == 30s);
  auto defaults = parse({});
  CAF_REQUIRE(defaults.value);
  CAF_CHECK(!defaults.value->admin_enabled());
  CAF_CHECK(!defaults.value->admin_read_only);
  CAF_CHECK_EQUAL(defaults.value->break_glass_max_ttl_minutes, 60);
}

CAF_TEST(production refuses unset or weak admin credentials) {
  auto r = parse({{"APP_ENV", "production"}});
  CAF_REQUIRE(!r.value);
  CAF_REQUIRE_EQUAL(r.errors.size(), 1u);
  CAF_CHECK(mentions(r.errors.front(), "ADMIN_BASIC_USERNAME"));
  CAF_CHECK(mentions(r.errors.front(), "ADMIN_BASIC_PASSWORD"));
  r = parse({{"APP_ENV", "production"},
             {"ADMIN_BASIC_USERNAME", "oncall"},
             {"ADMIN_BASIC_PASSWORD", "fifteen-chars!!"}});
  CAF_REQUIRE(!r.value);
  CAF_CHECK(mentions(r.errors.front(), "ADMIN_BASIC_PASSWORD"));
  CAF_CHECK(mentions(r.errors.front(), "16"));
  CAF_CHECK(!mentions(r.errors.front(), "fifteen-chars!!")); // never echoed
  r = parse({{"APP_ENV", "production"},
             {"ADMIN_BASIC_USERNAME", "oncall"},
             {"ADMIN_BASIC_PASSWORD", "sixteen-chars!!!"}});
  CAF_CHECK(r.value);
  // One without the other is an error everywhere.
  r = parse({{"ADMIN_BASIC_USERNAME", "oncall"}});
  CAF_REQUIRE(!r.value);
  CAF_CHECK(mentions(r.errors.front(), "ADMIN_BASIC_PASSWORD"));
}

CAF_TEST(job settings are read per job) {
  auto r = parse({{"JOB_BACKUP_SCHEDULE", "30 2 * * *"},
                  {"JOB_OUTBOX_DISPATCH_SCHEDULE", "every 2s"},
                  {"JOB_BOOKING_REMINDERS_MISSED", "skip"},
                  {"BOOKING_REMINDER_LEAD_HOURS", "1.5"},
                  {"NPS_SEND_DELAY_MINUTES", "0"},
                  {"PUBLIC_BASE_URL", "https://clean.example/"}});
  CAF_REQUIRE(r.value);
  const auto& j = r.value->jobs;
  CAF_REQUIRE_EQUAL(j.jobs.size(), job_catalogue().size());
  for (const auto& job : j.jobs) {
    if (job.name == "backup")
      CAF_CHECK_EQUAL(job.schedule, "30 2 * * *");
    if (job.name == "outbox-dispatch")
      CAF_CHECK_EQUAL(job.schedule, "every 2s");
    if (job.name == "booking-reminders")
      CAF_CHECK(job.missed == missed_policy::skip);
    if (job.name == "invoice-reminders")
      CAF_CHECK(job.missed == missed_policy::catch_up);
  }
  CAF_CHECK(j.booking_reminder_lead == 5400000ms);
  CAF_CHECK(j.nps_send_delay == 0ms);
  CAF_CHECK(j.heartbeat_ttl == 300s);
  CAF_CHECK_EQUAL(r.value->public_base_url, "https://clean.example");
}

CAF_TEST(the settled webhook cache is sized from its variable) {
  auto defaults = parse({});
  CAF_REQUIRE(defaults.value);
  CAF_CHECK_EQUAL(defaults.value->stripe.settled_cache, 50000);
  auto off = parse({{"STRIPE_WEBHOOK_SETTLED_CACHE", "0"}});
  CAF_REQUIRE(off.value);
  CAF_CHECK_EQUAL(off.value->stripe.settled_cache, 0);
  for (auto bad : {"-1", "many", "1000001"})
    CAF_CHECK(mentions(error_for("STRIPE_WEBHOOK_SETTLED_CACHE", bad), "STRIPE_WEBHOOK_SETTLED_CACHE"));
}

CAF_TEST(all errors are reported at once) {
  auto r = parse({{"PORT", "x"}, {"LOG_LEVEL", "loud"}, {"APP_ENV", "prod"}});
  CAF_CHECK(!r.value);
  CAF_CHECK_EQUAL(r.errors.size(), 3u);
}

CAF_TEST(empty variables count as unset) {
  auto r = parse({{"PORT", ""}, {"METRICS_TOKEN", ""}});
  CAF_REQUIRE(r.value);
  CAF_CHECK_EQUAL(r.value->port, 8080);
  CAF_CHECK(r.value->metrics_tokens.empty());
}

CAF_TEST(every variable is documented) {
  const std::vector<std::string> expected{"APP_ENV",
                                          "HOST",
                                          "PORT",
                                          "DATABASE_URL",
                                          "DATABASE_POOL_SIZE",
                                          "DATABASE_MAX_OVERFLOW",
                                          "DATABASE_POOL_TIMEOUT_SECONDS",
                                          "METRICS_TOKEN",
                                          "LOG_LEVEL",
                                          "LOG_FORMAT",
                                          "ACCESS_LOG",
                                          "HTTP_MAX_BODY_BYTES",
                                          "HTTP_MAX_HEADER_BYTES",
                                          "HTTP_READ_TIMEOUT_SECONDS",
                                          "HTTP_IDLE_TIMEOUT_SECONDS",
                                          "HTTP_MAX_CONNECTIONS",
                                          "HTTP_IO_THREADS",
                                          "ACTOR_THREADS",
                                          "SHUTDOWN_DRAIN_SECONDS",
                                          "SHUTDOWN_TIMEOUT_SECONDS",
                                          "READYZ_DB_TIMEOUT_SECONDS",
                                          "FAULT_INJECTION",
                                          "ADMIN_BASIC_USERNAME",
                                          "ADMIN_BASIC_PASSWORD",
                                          "ADMIN_READ_ONLY",
                                          "BREAK_GLASS_MAX_TTL_MINUTES",
                                          "ADMIN_AUTH_MAX_FAILURES",
                                          "ADMIN_AUTH_LOCKOUT_SECONDS",
                                          "SUPERVISOR_BACKOFF_MIN_SECONDS",
                                          "SUPERVISOR_BACKOFF_MAX_SECONDS",
                                          "EMAIL_ADAPTER",
                                          "SMTP_URL",
                                          "SMTP_USERNAME",
                                          "SMTP_PASSWORD",
                                          "SMTP_STARTTLS",
                                          "EMAIL_SEND_TIMEOUT_SECONDS",
                                          "SENDGRID_API_KEY",
                                          "SENDGRID_BASE_URL",
                                          "EMAIL_BREAKER_WINDOW",
                                          "EMAIL_BREAKER_OPEN_SECONDS",
                                          "JOB_STATEMENT_TIMEOUT_SECONDS",
                                          "STRIPE_WEBHOOK_SETTLED_CACHE"};
  auto& docs = documented_variables();
  for (auto& name : expected) {
    auto found = std::any_of(docs.begin(), docs.end(), [&](auto& d) { return name == d.name; });
    if (!(found))
      CAF_MESSAGE("failed for: " << name << " is missing from documented_variables()");
    CAF_CHECK(found);
  }
}
