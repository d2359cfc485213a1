#include "config/settings.hpp"

#include "config/schedule.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <functional>

extern char** environ;

namespace clean::config {

namespace {

/// Collects errors while reading variables so one run reports every bad value.
class reader {
public:
  explicit reader(const environment& env) : env_(env) {}

  const std::string* raw(const char* name) const {
    auto i = env_.find(name);
    return i == env_.end() || i->second.empty() ? nullptr : &i->second;
  }

  void fail(const char* name, const std::string& value, const std::string& accepts) {
    errors_.push_back(std::string{name} + "=\"" + value + "\" is invalid: expected " + accepts);
  }

  template <class T>
  void integer(const char* name, T& out, long long lo, long long hi) {
    auto v = raw(name);
    if (!v)
      return;
    long long parsed = 0;
    auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), parsed);
    if (ec != std::errc{} || end != v->data() + v->size() || parsed < lo || parsed > hi) {
      fail(name, *v, "an integer from " + std::to_string(lo) + " to " + std::to_string(hi));
      return;
    }
    out = static_cast<T>(parsed);
  }

  /// Seconds, fractional allowed ("2.5"), stored at millisecond precision.
  void seconds(const char* name, std::chrono::milliseconds& out, double lo, double hi) {
    auto v = raw(name);
    if (!v)
      return;
    char* end = nullptr;
    errno = 0;
    double parsed = std::strtod(v->c_str(), &end);
    if (errno != 0 || end != v->c_str() + v->size() || !std::isfinite(parsed) || parsed < lo || parsed > hi) {
      fail(name, *v, "a number of seconds from " + trim_number(lo) + " to " + trim_number(hi));
      return;
    }
    out = std::chrono::milliseconds{static_cast<long long>(std::llround(parsed * 1000))};
  }

  void whole_seconds(const char* name, std::chrono::seconds& out, long long lo, long long hi) {
    long long value = out.count();
    integer(name, value, lo, hi);
    out = std::chrono::seconds{value};
  }

  template <class T>
  void choice(const char* name, T& out, std::initializer_list<std::pair<const char*, T>> options) {
    auto v = raw(name);
    if (!v)
      return;
    std::string accepts;
    for (auto& [text, value] : options) {
      if (*v == text) {
        out = value;
        return;
      }
      accepts += (accepts.empty() ? "one of " : ", ") + std::string{text};
    }
    fail(name, *v, accepts);
  }

  void boolean(const char* name, bool& out) {
    choice(name, out, {{"true", true}, {"false", false}, {"1", true}, {"0", false}});
  }

  std::vector<std::string> take_errors() { return std::move(errors_); }

private:
  static std::string trim_number(double x) {
    auto s = std::to_string(x);
    s.erase(s.find_last_not_of('0') + 1);
    if (s.back() == '.')
      s.pop_back();
    return s;
  }

  const environment& env_;
  std::vector<std::string> errors_;
};

bool valid_ip_address(const std::string& host) {
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

bool valid_database_url(const std::string& url) {
  // libpq accepts URIs and key=value connection strings; anything else is a typo.
  return url.starts_with("postgresql://") || url.starts_with("postgres://") ||
         url.find('=') != std::string::npos;
}

std::vector<std::string> split_tokens(const std::string& raw) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= raw.size()) {
    auto comma = raw.find(',', start);
    if (comma == std::string::npos)
      comma = raw.size();
    out.push_back(raw.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

bool valid_token(const std::string& t) {
  return !t.empty() && std::all_of(t.begin(), t.end(), [](unsigned char c) { return c > 0x20 && c < 0x7f; });
}

void read_metrics_tokens(reader& r, settings& s) {
  auto v = r.raw("METRICS_TOKEN");
  if (!v)
    return;
  auto tokens = split_tokens(*v);
  if (tokens.size() > 2 || !std::all_of(tokens.begin(), tokens.end(), valid_token)) {
    // Never echo a secret back, not even a malformed one.
    r.fail("METRICS_TOKEN", "<redacted>",
           "one token, or two separated by a comma during a rotation, of printable "
           "non-space characters");
    return;
  }
  s.metrics_tokens = std::move(tokens);
}

/// "booking-reminders" -> "BOOKING_REMINDERS".
std::string env_name(const std::string& job) {
  std::string out;
  for (char c : job)
    out.push_back(c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  return out;
}

/// Hours or minutes given as a (fractional) number, stored in ms.
void scaled(reader& r, const char* name, std::chrono::milliseconds& out, double unit_seconds, double lo,
            double hi) {
  std::chrono::milliseconds as_seconds{static_cast<long long>(out.count() / unit_seconds)};
  r.seconds(name, as_seconds, lo, hi);
  out = std::chrono::milliseconds{static_cast<long long>(std::llround(as_seconds.count() * unit_seconds))};
}

void read_jobs(reader& r, jobs_settings& j) {
  j.jobs = job_catalogue();
  for (auto& job : j.jobs) {
    auto base = "JOB_" + env_name(job.name);
    auto schedule_var = base + "_SCHEDULE";
    if (auto v = r.raw(schedule_var.c_str())) {
      std::string error;
      if (schedule::parse(*v, error))
        job.schedule = *v;
      else
        r.fail(schedule_var.c_str(), *v, error);
    }
    auto missed_var = base + "_MISSED";
    r.choice(missed_var.c_str(), job.missed,
             {{"catch_up", missed_policy::catch_up}, {"skip", missed_policy::skip}});
  }
  r.whole_seconds("JOB_HEARTBEAT_TTL_SECONDS", j.heartbeat_ttl, 1, 86400);
  r.seconds("JOB_POLL_SECONDS", j.poll_interval, 0.05, 300);
  r.integer("JOB_OVERDUE_FACTOR", j.overdue_factor, 1, 1000);
  r.whole_seconds("JOB_LEASE_SECONDS", j.lease, 1, 86400);
  r.seconds("JOB_STATEMENT_TIMEOUT_SECONDS", j.statement_timeout, 1, 86400);
  scaled(r, "BOOKING_REMINDER_LEAD_HOURS", j.booking_reminder_lead, 3600, 0.001, 24 * 60);
  scaled(r, "INVOICE_REMINDER_INTERVAL_HOURS", j.invoice_reminder_interval, 3600, 0.0001, 24 * 365);
  scaled(r, "NPS_SEND_DELAY_MINUTES", j.nps_send_delay, 60, 0, 60 * 24 * 30);
  r.integer("EMAIL_MAX_ATTEMPTS", j.email_max_attempts, 1, 100);
  r.integer("EXPORT_MAX_ATTEMPTS", j.export_max_attempts, 1, 100);
  r.integer("SMS_MAX_ATTEMPTS", j.sms_max_attempts, 1, 100);
  r.integer("WEBHOOK_MAX_ATTEMPTS", j.webhook_max_attempts, 1, 100);
  if (auto v = r.raw("INTEGRATION_WEBHOOK_URL")) {
    if (v->starts_with("http://") || v->starts_with("https://"))
      j.webhook_url = *v;
    else
      r.fail("INTEGRATION_WEBHOOK_URL", "<redacted>", "an http:// or https:// URL");
  }
  if (auto v = r.raw("INTEGRATION_WEBHOOK_SECRET"))
    j.webhook_secret = *v;
  if (!j.webhook_url.empty() && j.webhook_secret.size() < 16)
    r.fail("INTEGRATION_WEBHOOK_SECRET", "<redacted>",
           "a signing secret of at least 16 characters when INTEGRATION_WEBHOOK_URL is set");
  r.seconds("INTEGRATION_WEBHOOK_TIMEOUT_SECONDS", j.webhook_timeout, 0.1, 300);
  if (auto v = r.raw("STORAGE_DIR"))
    j.storage_dir = *v;
  r.integer("EXPORT_RETENTION_DAYS", j.export_retention_days, 1, 3650);
  r.integer("BACKUP_RETENTION_DAYS", j.backup_retention_days, 1, 3650);
  r.integer("OUTBOX_RETENTION_DAYS", j.outbox_retention_days, 1, 3650);
  if (auto v = r.raw("EMAIL_FILE_DIR"))
    j.email_file_dir = *v;
  if (auto v = r.raw("EMAIL_FROM"))
    j.email_from = *v;
  if (auto v = r.raw("PG_DUMP_PATH"))
    j.pg_dump = *v;
  if (auto v = r.raw("PG_RESTORE_PATH"))
    j.pg_restore = *v;
  r.whole_seconds("BACKUP_TIMEOUT_SECONDS", j.backup_timeout, 1, 86400);
}

/// Shortest admin password accepted in production.
constexpr size_t min_admin_password = 16;

void read_admin(reader& r, settings& s) {
  if (auto user = r.raw("ADMIN_BASIC_USERNAME")) {
    if (user->find(':') != std::string::npos || !valid_token(*user))
      // Not echoed: "user:password" pasted into it would print the password.
      r.fail("ADMIN_BASIC_USERNAME", "<redacted>", "printable characters without spaces or ':'");
    else
      s.admin_username = *user;
  }
  if (auto password = r.raw("ADMIN_BASIC_PASSWORD"))
    s.admin_password = *password; // any bytes; never echoed back
  if (s.admin_username.empty() != s.admin_password.empty())
    r.fail(s.admin_username.empty() ? "ADMIN_BASIC_USERNAME" : "ADMIN_BASIC_PASSWORD", "",
           "to be set together with " +
               std::string{s.admin_username.empty() ? "ADMIN_BASIC_PASSWORD" : "ADMIN_BASIC_USERNAME"});
  if (s.production()) {
    if (s.admin_username.empty() && s.admin_password.empty())
      r.fail("ADMIN_BASIC_USERNAME", "",
             "admin credentials in production (APP_ENV=production): set ADMIN_BASIC_USERNAME and "
             "ADMIN_BASIC_PASSWORD");
    else if (!s.admin_password.empty() && s.admin_password.size() < min_admin_password)
      r.fail("ADMIN_BASIC_PASSWORD", "<redacted>",
             "at least " + std::to_string(min_admin_password) +
                 " characters in production (APP_ENV=production); the one given is too weak");
  }
  r.boolean("ADMIN_READ_ONLY", s.admin_read_only);
  r.integer("BREAK_GLASS_MAX_TTL_MINUTES", s.break_glass_max_ttl_minutes, 1, 24 * 60);
  r.integer("ADMIN_AUTH_MAX_FAILURES", s.admin_auth_max_failures, 1, 10000);
  r.whole_seconds("ADMIN_AUTH_LOCKOUT_SECONDS", s.admin_auth_lockout, 1, 86400);
}

void read_breaker(reader& r, const std::string& prefix, breaker_settings& b) {
  auto name = [&](const char* suffix) {
    return prefix + suffix;
  };
  r.integer(name("_BREAKER_WINDOW").c_str(), b.window, 1, 10000);
  r.integer(name("_BREAKER_MIN_CALLS").c_str(), b.minimum_calls, 1, 10000);
  r.integer(name("_BREAKER_FAILURE_RATE_PERCENT").c_str(), b.failure_rate_percent, 1, 100);
  r.seconds(name("_BREAKER_OPEN_SECONDS").c_str(), b.open_for, 0.01, 86400);
  r.integer(name("_BREAKER_HALF_OPEN_CALLS").c_str(), b.half_open_calls, 1, 1000);
  r.seconds(name("_BREAKER_HALF_OPEN_MAX_SECONDS").c_str(), b.half_open_max, 0.01, 86400);
  if (b.minimum_calls > b.window)
    r.fail(name("_BREAKER_MIN_CALLS").c_str(), std::to_string(b.minimum_calls),
           "at most " + prefix + "_BREAKER_WINDOW (" + std::to_string(b.window) + ")");
}

void read_email(reader& r, settings& s) {
  auto& e = s.email;
  r.choice(
      "EMAIL_ADAPTER", e.adapter,
      {{"file", email_adapter::file}, {"smtp", email_adapter::smtp}, {"sendgrid", email_adapter::sendgrid}});
  if (auto v = r.raw("SMTP_URL")) {
    if (v->starts_with("smtp://") || v->starts_with("smtps://"))
      e.smtp_url = *v;
    else
      r.fail("SMTP_URL", "<redacted>", "smtp://host[:port] or smtps://host[:port]");
  }
  if (auto v = r.raw("SMTP_USERNAME"))
    e.smtp_username = *v;
  if (auto v = r.raw("SMTP_PASSWORD"))
    e.smtp_password = *v;
  r.choice(
      "SMTP_STARTTLS", e.starttls,
      {{"off", smtp_tls::off}, {"opportunistic", smtp_tls::opportunistic}, {"required", smtp_tls::required}});
  r.seconds("SMTP_CONNECT_TIMEOUT_SECONDS", e.smtp_connect_timeout, 0.1, 600);
  r.seconds("EMAIL_SEND_TIMEOUT_SECONDS", e.send_timeout, 0.1, 600);
  if (auto v = r.raw("SENDGRID_API_KEY"))
    e.sendgrid_api_key = *v;
  if (auto v = r.raw("SENDGRID_BASE_URL")) {
    if (v->starts_with("http://") || v->starts_with("https://"))
      e.sendgrid_base_url = v->back() == '/' ? v->substr(0, v->size() - 1) : *v;
    else
      r.fail("SENDGRID_BASE_URL", "<redacted>", "an http:// or https:// URL");
  }
  if (e.adapter == email_adapter::smtp && e.smtp_url.empty())
    r.fail("SMTP_URL", "", "to be set when EMAIL_ADAPTER=smtp (smtp://host:port or smtps://host:port)");
  if (e.adapter == email_adapter::sendgrid && e.sendgrid_api_key.empty())
    r.fail("SENDGRID_API_KEY", "", "to be set when EMAIL_ADAPTER=sendgrid");
  read_breaker(r, "EMAIL", e.breaker);
}

void read_sms(reader& r, settings& s) {
  auto& m = s.sms;
  r.choice("SMS_ADAPTER", m.adapter, {{"twilio", sms_adapter::twilio}, {"log", sms_adapter::log}});
  if (auto v = r.raw("TWILIO_ACCOUNT_SID"))
    m.twilio_account_sid = *v;
  if (auto v = r.raw("TWILIO_AUTH_TOKEN"))
    m.twilio_auth_token = *v;
  if (auto v = r.raw("TWILIO_FROM"))
    m.twilio_from = *v;
  if (auto v = r.raw("TWILIO_BASE_URL")) {
    if (v->starts_with("http://") || v->starts_with("https://"))
      m.twilio_base_url = v->back() == '/' ? v->substr(0, v->size() - 1) : *v;
    else
      r.fail("TWILIO_BASE_URL", "<redacted>", "an http:// or https:// URL");
  }
  if (m.adapter == sms_adapter::twilio)
    for (auto [name, value] :
         {std::pair{"TWILIO_ACCOUNT_SID", &m.twilio_account_sid},
          std::pair{"TWILIO_AUTH_TOKEN", &m.twilio_auth_token}, std::pair{"TWILIO_FROM", &m.twilio_from}})
      if (value->empty())
        r.fail(name, "", "to be set when SMS_ADAPTER=twilio");
  m.connect_timeout = s.email.smtp_connect_timeout;
  m.send_timeout = s.email.send_timeout;
  read_breaker(r, "SMS", m.breaker);
  s.jobs.sms_reminders = m.enabled();
}

void read_stripe(reader& r, settings& s) {
  auto& st = s.stripe;
  if (auto v = r.raw("STRIPE_WEBHOOK_SECRET")) {
    auto secrets = split_tokens(*v);
    if (secrets.empty() || !std::all_of(secrets.begin(), secrets.end(), valid_token))
      r.fail("STRIPE_WEBHOOK_SECRET", "<redacted>",
             "one or more signing secrets (whsec_...) separated by commas, during a rotation");
    else
      st.webhook_secrets = std::move(secrets);
  }
  r.whole_seconds("STRIPE_WEBHOOK_TOLERANCE_SECONDS", st.tolerance, 1, 86400);
  r.integer("STRIPE_WEBHOOK_SETTLED_CACHE", st.settled_cache, 0, 1000000);
  read_breaker(r, "STRIPE", st.breaker);
  auto& j = s.jobs;
  if (auto v = r.raw("STRIPE_API_KEY")) {
    if (valid_token(*v))
      j.stripe_api_key = *v;
    else
      r.fail("STRIPE_API_KEY", "<redacted>", "a Stripe secret key (sk_... or rk_...)");
  }
  if (auto v = r.raw("STRIPE_API_BASE_URL")) {
    if (v->starts_with("http://") || v->starts_with("https://"))
      j.stripe_api_base_url = v->back() == '/' ? v->substr(0, v->size() - 1) : *v;
    else
      r.fail("STRIPE_API_BASE_URL", "<redacted>", "an http:// or https:// URL");
  }
  std::chrono::milliseconds lookback = j.stripe_reconcile_lookback;
  scaled(r, "STRIPE_RECONCILE_LOOKBACK_HOURS", lookback, 3600, 1, 720);
  j.stripe_reconcile_lookback = std::chrono::duration_cast<std::chrono::seconds>(lookback);
  j.stripe_api_timeout = s.email.send_timeout;
  read_breaker(r, "STRIPE_API", j.stripe_api_breaker);
}

} // namespace

parse_result parse_settings(const environment& env) {
  settings s;
  reader r{env};
  r.choice("APP_ENV", s.env, {{"development", app_env::development}, {"production", app_env::production}});
  // Defaults that depend on the environment are set before the explicit values.
  s.log_fmt = s.production() ? log_format::json : log_format::text;
  s.shutdown_drain = s.production() ? std::chrono::milliseconds{5000} : std::chrono::milliseconds{0};

  if (auto host = r.raw("HOST")) {
    if (valid_ip_address(*host))
      s.host = *host;
    else
      r.fail("HOST", *host, "an IPv4 or IPv6 address such as 127.0.0.1, 0.0.0.0 or ::");
  }
  r.integer("PORT", s.port, 0, 65535);

  if (auto url = r.raw("DATABASE_URL")) {
    if (valid_database_url(*url))
      s.database_url = *url;
    else
      r.fail("DATABASE_URL", "<redacted>", "a postgresql:// URI or a libpq key=value connection string");
  }
  r.integer("DATABASE_POOL_SIZE", s.database_pool_size, 1, 1000);
  r.integer("DATABASE_MAX_OVERFLOW", s.database_max_overflow, 0, 1000);
  r.seconds("DATABASE_POOL_TIMEOUT_SECONDS", s.database_pool_timeout, 0.01, 300);
  r.seconds("DATABASE_STATEMENT_TIMEOUT_SECONDS", s.database_statement_timeout, 0.01, 3600);
  r.seconds("API_REQUEST_TIMEOUT_SECONDS", s.api_request_timeout, 0.05, 300);
  r.seconds("API_KEY_CACHE_SECONDS", s.api_key_cache_ttl, 0, 3600);

  read_metrics_tokens(r, s);

  r.choice("LOG_LEVEL", s.log_level,
           {{"trace", std::string{"trace"}},
            {"debug", std::string{"debug"}},
            {"info", std::string{"info"}},
            {"warn", std::string{"warn"}},
            {"error", std::string{"error"}},
            {"critical", std::string{"critical"}},
            {"off", std::string{"off"}}});
  r.choice("LOG_FORMAT", s.log_fmt, {{"json", log_format::json}, {"text", log_format::text}});
  r.boolean("ACCESS_LOG", s.access_log);

  r.integer("HTTP_MAX_BODY_BYTES", s.http_max_body_bytes, 1, 1LL << 30);
  r.integer("HTTP_MAX_HEADER_BYTES", s.http_max_header_bytes, 1024, 1LL << 20);
  r.whole_seconds("HTTP_READ_TIMEOUT_SECONDS", s.http_read_timeout, 1, 3600);
  r.whole_seconds("HTTP_IDLE_TIMEOUT_SECONDS", s.http_idle_timeout, 1, 3600);
  r.integer("HTTP_MAX_CONNECTIONS", s.http_max_connections, 1, 1000000);
  r.integer("HTTP_IO_THREADS", s.http_io_threads, 1, 64);
  r.integer("ACTOR_THREADS", s.actor_threads, 1, 64);

  r.seconds("SHUTDOWN_DRAIN_SECONDS", s.shutdown_drain, 0, 300);
  r.seconds("SHUTDOWN_TIMEOUT_SECONDS", s.shutdown_timeout, 0, 600);
  r.seconds("READYZ_DB_TIMEOUT_SECONDS", s.readyz_db_timeout, 0.05, 5);

  read_admin(r, s);
  read_jobs(r, s.jobs);
  read_email(r, s);
  read_sms(r, s);
  read_stripe(r, s);
  if (auto v = r.raw("PUBLIC_BASE_URL")) {
    if (v->starts_with("http://") || v->starts_with("https://"))
      s.public_base_url = v->back() == '/' ? v->substr(0, v->size() - 1) : *v;
    else
      r.fail("PUBLIC_BASE_URL", *v, "an http:// or https:// URL");
  }
  r.boolean("FAULT_INJECTION", s.fault_injection);
  if (s.fault_injection && s.production())
    r.fail("FAULT_INJECTION", "1",
           "to be off in production (APP_ENV=production): it lets callers crash actors");
  r.seconds("SUPERVISOR_BACKOFF_MIN_SECONDS", s.supervisor_backoff_min, 0, 60);
  r.seconds("SUPERVISOR_BACKOFF_MAX_SECONDS", s.supervisor_backoff_max, 0, 600);
  if (s.supervisor_backoff_max < s.supervisor_backoff_min)
    r.fail("SUPERVISOR_BACKOFF_MAX_SECONDS", std::to_string(s.supervisor_backoff_max.count() / 1000.0),
           "a value no smaller than SUPERVISOR_BACKOFF_MIN_SECONDS");

  parse_result result;
  result.errors = r.take_errors();
  if (result.errors.empty())
    result.value = std::move(s);
  return result;
}

environment process_environment() {
  environment env;
  for (char** e = environ; e && *e; ++e) {
    std::string_view entry{*e};
    auto eq = entry.find('=');
    if (eq != std::string_view::npos)
      env.emplace(std::string{entry.substr(0, eq)}, std::string{entry.substr(eq + 1)});
  }
  return env;
}

const std::vector<job_config>& job_catalogue() {
  static const std::vector<job_config> jobs{
      {"booking-reminders", "every 5m", missed_policy::catch_up},
      {"invoice-reminders", "every 1h", missed_policy::catch_up},
      {"nps-send", "every 5m", missed_policy::catch_up},
      {"email-dlq", "every 1m", missed_policy::skip},
      {"outbox-dispatch", "every 5s", missed_policy::skip},
      {"storage-janitor", "every 1h", missed_policy::skip},
      {"backup", "0 3 * * *", missed_policy::catch_up},
      {"stripe-reconcile", "every 1h", missed_policy::catch_up},
  };
  return jobs;
}

const std::vector<variable_doc>& documented_variables() {
  static const std::vector<variable_doc> docs{
      {"APP_ENV", "development", "development | production (production enforces secrets)"},
      {"HOST", "127.0.0.1", "address to listen on"},
      {"PORT", "8080", "TCP port to listen on (0 = any free port)"},
      {"DATABASE_URL", "(none)", "libpq URI or key=value string; required by serve and migrate"},
      {"DATABASE_POOL_SIZE", "8", "steady database connections (1-1000)"},
      {"DATABASE_MAX_OVERFLOW", "4", "extra connections under load (0-1000)"},
      {"DATABASE_POOL_TIMEOUT_SECONDS", "5", "longest wait for a pooled connection (then 503)"},
      {"DATABASE_STATEMENT_TIMEOUT_SECONDS", "5",
       "server-side limit for one statement on a pooled connection"},
      {"API_REQUEST_TIMEOUT_SECONDS", "10", "budget of one API request (queries past it are cancelled)"},
      {"API_KEY_CACHE_SECONDS", "5", "a verified API key is trusted this long (revocation delay; 0 = off)"},
      {"METRICS_TOKEN", "(none)", "bearer token for /metrics; two comma-separated during rotation"},
      {"LOG_LEVEL", "info", "trace | debug | info | warn | error | critical | off"},
      {"LOG_FORMAT", "text (json in production)", "json | text"},
      {"ACCESS_LOG", "true", "one log line per HTTP request"},
      {"HTTP_MAX_BODY_BYTES", "1048576", "larger request bodies get 413"},
      {"HTTP_MAX_HEADER_BYTES", "16384", "larger request headers get 431"},
      {"HTTP_READ_TIMEOUT_SECONDS", "10", "a request must arrive completely within this"},
      {"HTTP_IDLE_TIMEOUT_SECONDS", "60", "idle keep-alive connections are closed after this"},
      {"HTTP_MAX_CONNECTIONS", "10000", "connections beyond this get 503 and are closed"},
      {"HTTP_IO_THREADS", "1", "threads running the HTTP event loop"},
      {"ACTOR_THREADS", "2", "CAF scheduler worker threads"},
      {"SHUTDOWN_DRAIN_SECONDS", "0 (5 in production)",
       "after SIGTERM, /readyz reports 503 this long before the listener closes"},
      {"SHUTDOWN_TIMEOUT_SECONDS", "20", "longest wait for in-flight requests at shutdown"},
      {"READYZ_DB_TIMEOUT_SECONDS", "0.8", "deadline of the database round trip behind /readyz"},
      {"ADMIN_BASIC_USERNAME", "(none)",
       "HTTP Basic user for /v1/admin/* (required in production; unset = admin API off)"},
      {"ADMIN_BASIC_PASSWORD", "(none)",
       "HTTP Basic password for /v1/admin/* (16+ characters in production)"},
      {"ADMIN_READ_ONLY", "false", "refuse admin writes (403) unless they carry X-Break-Glass-Token"},
      {"BREAK_GLASS_MAX_TTL_MINUTES", "60", "cap on a break-glass session's lifetime (1-1440)"},
      {"ADMIN_AUTH_MAX_FAILURES", "10", "failed admin logins from one address before it gets 429"},
      {"ADMIN_AUTH_LOCKOUT_SECONDS", "300",
       "how long such an address is locked out (and failures remembered)"},
      {"PUBLIC_BASE_URL", "http://127.0.0.1:8080", "base of links in emails (the NPS survey link)"},
      {"JOB_<NAME>_SCHEDULE", "(per job)",
       "interval (30s, 5m, 1h, 1d) or cron (UTC), e.g. JOB_BACKUP_SCHEDULE=\"0 3 * * *\""},
      {"JOB_<NAME>_MISSED", "(per job)",
       "after downtime: catch_up (run once) or skip (wait for the next slot)"},
      {"JOB_HEARTBEAT_TTL_SECONDS", "300",
       "a runner or job heartbeat older than this is stale (/readyz 503)"},
      {"JOB_POLL_SECONDS", "5", "how often each job checks its slot, pause flag and run requests"},
      {"JOB_OVERDUE_FACTOR", "3", "a job with no success for this many periods is overdue"},
      {"JOB_STATEMENT_TIMEOUT_SECONDS", "300",
       "longest single statement of a job (backups run pg_dump, not bounded by it)"},
      {"JOB_LEASE_SECONDS", "300", "a claimed outbox event is retried after this if its worker died"},
      {"BOOKING_REMINDER_LEAD_HOURS", "24", "booking reminders go out this long before the booking"},
      {"INVOICE_REMINDER_INTERVAL_HOURS", "72", "an overdue invoice is reminded at most once per this"},
      {"NPS_SEND_DELAY_MINUTES", "120", "the NPS survey goes out this long after completion"},
      {"EMAIL_MAX_ATTEMPTS", "8", "email deliveries before an event is dead"},
      {"EXPORT_MAX_ATTEMPTS", "5", "export attempts before an event is dead"},
      {"STORAGE_DIR", "var/storage", "exports/ and backups/ live here"},
      {"EXPORT_RETENTION_DAYS", "30", "export files older than this are deleted"},
      {"BACKUP_RETENTION_DAYS", "14", "backup files older than this are deleted"},
      {"OUTBOX_RETENTION_DAYS", "30", "delivered outbox rows older than this are deleted"},
      {"EMAIL_FILE_DIR", "var/mail", "where the file email adapter writes .eml files"},
      {"EMAIL_FROM", "clean-service <no-reply@localhost>", "From: of outgoing email"},
      {"EMAIL_ADAPTER", "file", "file (.eml files under EMAIL_FILE_DIR) | smtp | sendgrid"},
      {"SMS_MAX_ATTEMPTS", "8", "SMS deliveries before an event is dead"},
      {"WEBHOOK_MAX_ATTEMPTS", "10", "integration webhook deliveries before an event is dead"},
      {"INTEGRATION_WEBHOOK_URL", "(none)", "business events (booking.*, invoice.created) are POSTed here"},
      {"INTEGRATION_WEBHOOK_SECRET", "(none)",
       "HMAC-SHA256 key of the Clean-Signature header (16+ chars; never logged)"},
      {"INTEGRATION_WEBHOOK_TIMEOUT_SECONDS", "10", "whole-call limit of one webhook delivery"},
      {"SMTP_URL", "(none)", "smtp://host:port or smtps://host:port (EMAIL_ADAPTER=smtp)"},
      {"SMTP_USERNAME", "(none)", "SMTP AUTH user"},
      {"SMTP_PASSWORD", "(none)", "SMTP AUTH password (never logged)"},
      {"SMTP_STARTTLS", "opportunistic", "off | opportunistic (when offered) | required, for smtp:// URLs"},
      {"SMTP_CONNECT_TIMEOUT_SECONDS", "10", "TCP/TLS connect limit of one SMTP or SendGrid call"},
      {"EMAIL_SEND_TIMEOUT_SECONDS", "30", "whole-call limit of one send (a stalled server is a timeout)"},
      {"SENDGRID_API_KEY", "(none)", "API key for EMAIL_ADAPTER=sendgrid (never logged)"},
      {"SENDGRID_BASE_URL", "https://api.sendgrid.com",
       "SendGrid API base (tests point it at a local server)"},
      {"SMS_ADAPTER", "(none)", "twilio | log: booking reminders also go by SMS to customers with a phone"},
      {"TWILIO_ACCOUNT_SID", "(none)", "Twilio account (SMS_ADAPTER=twilio)"},
      {"TWILIO_AUTH_TOKEN", "(none)", "Twilio auth token (never logged)"},
      {"TWILIO_FROM", "(none)", "the sending number, E.164 (+15005550006)"},
      {"TWILIO_BASE_URL", "https://api.twilio.com", "Twilio API base (tests point it at a local server)"},
      {"SMS_BREAKER_*", "as EMAIL_BREAKER_*", "the SMS channel's own breaker (same six variables)"},
      {"STRIPE_WEBHOOK_SECRET", "(none)",
       "Stripe endpoint signing secret(s), comma-separated during a rotation"},
      {"STRIPE_WEBHOOK_TOLERANCE_SECONDS", "300",
       "signature timestamps further from now (either way) are refused"},
      {"STRIPE_WEBHOOK_SETTLED_CACHE", "50000",
       "event ids per HTTP loop whose redeliveries are answered without the database (0: off)"},
      {"STRIPE_BREAKER_*", "as EMAIL_BREAKER_*",
       "breaker around webhook processing: open answers 503 at once"},
      {"STRIPE_API_KEY", "(none)", "Stripe secret or restricted key for stripe-reconcile (never logged)"},
      {"STRIPE_API_BASE_URL", "https://api.stripe.com", "Stripe API base (tests point it at a local server)"},
      {"STRIPE_RECONCILE_LOOKBACK_HOURS", "96", "how far back stripe-reconcile lists undelivered events"},
      {"STRIPE_API_BREAKER_*", "as EMAIL_BREAKER_*", "breaker around calls to Stripe's API (stripe_api)"},
      {"EMAIL_BREAKER_WINDOW", "20", "email circuit breaker: calls in the sliding window"},
      {"EMAIL_BREAKER_MIN_CALLS", "5", "calls in the window before the breaker may open"},
      {"EMAIL_BREAKER_FAILURE_RATE_PERCENT", "50", "failure share of the window that opens the breaker"},
      {"EMAIL_BREAKER_OPEN_SECONDS", "30", "how long the breaker stays open before trial calls"},
      {"EMAIL_BREAKER_HALF_OPEN_CALLS", "3", "trial calls while half-open"},
      {"EMAIL_BREAKER_HALF_OPEN_MAX_SECONDS", "60",
       "longest stay half-open before deciding on the trials seen"},
      {"PG_DUMP_PATH", "pg_dump", "pg_dump used by the backup job"},
      {"PG_RESTORE_PATH", "pg_restore", "pg_restore used to verify backups"},
      {"BACKUP_TIMEOUT_SECONDS", "1800", "a backup taking longer is killed and counted as failed"},
      {"FAULT_INJECTION", "false",
       "enable crash/hang drills on /v1/admin/supervisor (refused in production)"},
      {"SUPERVISOR_BACKOFF_MIN_SECONDS", "0.1",
       "first restart delay of a crashed actor (doubles per failure)"},
      {"SUPERVISOR_BACKOFF_MAX_SECONDS", "5", "longest restart delay of a crashed actor"},
  };
  return docs;
}

} // namespace clean::config
