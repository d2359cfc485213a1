#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace clean::config {

enum class app_env { development, production };

/// What a job does about slots missed while no runner was up.
enum class missed_policy { catch_up, skip };

struct job_config {
  std::string name;     // e.g. "booking-reminders"
  std::string schedule; // validated by config::schedule
  missed_policy missed = missed_policy::catch_up;
};

/// A circuit breaker's tuning (see delivery/circuit_breaker.hpp).
struct breaker_settings {
  /// The last this many calls decide the failure rate.
  int window = 20;
  /// No opening before this many calls are in the window.
  int minimum_calls = 5;
  /// Opens when this share of the window failed (percent).
  int failure_rate_percent = 50;
  std::chrono::milliseconds open_for{30000};
  /// Trial calls let through while half-open.
  int half_open_calls = 3;
  /// Longest stay in half-open: a sparse trickle of calls must not keep a
  /// breaker undecided.
  std::chrono::milliseconds half_open_max{60000};
};

/// The jobs runner and what its jobs need.
struct jobs_settings {
  /// Every job, in catalogue order (see job_catalogue()).
  std::vector<job_config> jobs;
  std::chrono::seconds heartbeat_ttl{300};
  std::chrono::milliseconds poll_interval{5000};
  /// Overdue: no success within this many periods.
  int overdue_factor = 3;
  /// A claimed outbox event whose worker died is due again after this.
  std::chrono::seconds lease{300};
  /// Server-side limit for one statement on a job's connection.
  std::chrono::milliseconds statement_timeout{300000};
  std::chrono::milliseconds booking_reminder_lead{24 * 3600 * 1000LL};
  std::chrono::milliseconds invoice_reminder_interval{72 * 3600 * 1000LL};
  std::chrono::milliseconds nps_send_delay{2 * 3600 * 1000LL};
  int email_max_attempts = 8;
  int export_max_attempts = 5;
  std::string storage_dir = "var/storage";
  int export_retention_days = 30;
  int backup_retention_days = 14;
  int outbox_retention_days = 30;
  std::string email_file_dir = "var/mail";
  std::string email_from = "clean-service <no-reply@localhost>";
  std::string pg_dump = "pg_dump";
  std::string pg_restore = "pg_restore";
  std::chrono::seconds backup_timeout{1800};
  /// Booking reminders also queue an SMS (set when SMS_ADAPTER is).
  bool sms_reminders = false;
  int sms_max_attempts = 8;
  /// Outbound webhooks to an integration (INTEGRATION_WEBHOOK_URL): business
  /// events are POSTed there, signed with the secret.
  std::string webhook_url;
  std::string webhook_secret; // never logged
  std::chrono::milliseconds webhook_timeout{10000};
  int webhook_max_attempts = 10;
  /// stripe-reconcile: Stripe's events API (unset key: nothing to do).
  std::string stripe_api_key; // secret; never logged
  std::string stripe_api_base_url = "https://api.stripe.com";
  std::chrono::seconds stripe_reconcile_lookback{96 * 3600};
  std::chrono::milliseconds stripe_api_timeout{10000};
  breaker_settings stripe_api_breaker;
};

enum class email_adapter { file, smtp, sendgrid };
enum class smtp_tls { off, opportunistic, required };

/// How email leaves the service (EMAIL_ADAPTER and its variables).
struct email_settings {
  email_adapter adapter = email_adapter::file;
  std::string smtp_url;      // smtp://host:port or smtps://host:port
  std::string smtp_username; // optional; never logged
  std::string smtp_password; // secret; never logged
  smtp_tls starttls = smtp_tls::opportunistic;
  std::chrono::milliseconds smtp_connect_timeout{10000};
  std::chrono::milliseconds send_timeout{30000};
  std::string sendgrid_api_key; // secret; never logged
  std::string sendgrid_base_url = "https://api.sendgrid.com";
  breaker_settings breaker;
};

enum class sms_adapter { none, twilio, log };

/// The SMS channel (SMS_ADAPTER): booking reminders also go by SMS to
/// customers with a phone when it is set.
struct sms_settings {
  sms_adapter adapter = sms_adapter::none;
  std::string twilio_account_sid;
  std::string twilio_auth_token; // secret; never logged
  std::string twilio_from;       // the sending number, E.164
  std::string twilio_base_url = "https://api.twilio.com";
  std::chrono::milliseconds connect_timeout{10000};
  std::chrono::milliseconds send_timeout{30000};
  breaker_settings breaker;
  bool enabled() const { return adapter != sms_adapter::none; }
};

/// Stripe webhooks (POST /v1/webhooks/stripe).
struct stripe_settings {
  /// Endpoint signing secrets (whsec_…); several during a rotation. Empty:
  /// the endpoint refuses every delivery (nothing can be verified).
  std::vector<std::string> webhook_secrets;
  /// A signature timestamp further than this from now, either way, is refused.
  std::chrono::seconds tolerance{300};
  /// The breaker around processing (database work): open answers 503 at once.
  breaker_settings breaker;
  /// Event ids per HTTP event loop whose stored state is final (applied, or
  /// a type we never act on), so their redeliveries are answered without
  /// the database. 0: every delivery goes to the database.
  int settled_cache = 50000;
};

/// The jobs there are, with their default schedule and missed-run policy.
const std::vector<job_config>& job_catalogue();
enum class log_format { json, text };

/// Everything the service reads from its environment, parsed and validated once
/// at start-up. Immutable afterwards: components receive the slice they need.
struct settings {
  app_env env = app_env::development;
  std::string host = "127.0.0.1";
  uint16_t port = 8080;

  /// Empty when DATABASE_URL is unset; commands that need a database refuse to
  /// start without it (see `require_database`).
  std::string database_url;
  int database_pool_size = 8;
  int database_max_overflow = 4;
  std::chrono::milliseconds database_pool_timeout{5000};
  /// Server-side limit for one statement on a pooled connection.
  std::chrono::milliseconds database_statement_timeout{5000};

  /// Budget of one API request: waiting for a connection plus its queries.
  std::chrono::milliseconds api_request_timeout{10000};
  /// How long a verified API key is trusted before the database is asked again.
  std::chrono::milliseconds api_key_cache_ttl{5000};

  /// Accepted scrape tokens (zero, one, or two during a rotation).
  std::vector<std::string> metrics_tokens;

  std::string log_level = "info";
  log_format log_fmt = log_format::text;
  bool access_log = true;

  size_t http_max_body_bytes = 1024 * 1024;
  size_t http_max_header_bytes = 16 * 1024;
  std::chrono::seconds http_read_timeout{10};
  std::chrono::seconds http_idle_timeout{60};
  size_t http_max_connections = 10000;
  int http_io_threads = 1;
  int actor_threads = 2;

  std::chrono::milliseconds shutdown_drain{0};
  std::chrono::milliseconds shutdown_timeout{20000};
  std::chrono::milliseconds readyz_db_timeout{800};

  /// HTTP Basic credentials for /v1/admin/*. Both empty = the admin API is
  /// off (development only: production refuses to start without them).
  std::string admin_username;
  std::string admin_password;
  /// Admin writes are refused (403) unless they carry a break-glass token.
  bool admin_read_only = false;
  /// Longest break-glass session a caller may ask for.
  int break_glass_max_ttl_minutes = 60;
  /// Failed admin logins from one address before it is locked out (429) for
  /// `admin_auth_lockout`; failures older than that are forgotten.
  int admin_auth_max_failures = 10;
  std::chrono::seconds admin_auth_lockout{300};

  jobs_settings jobs;
  email_settings email;
  sms_settings sms;
  stripe_settings stripe;
  /// Base of links the service sends out (the NPS survey link).
  std::string public_base_url = "http://127.0.0.1:8080";

  /// Drills: POST /v1/admin/supervisor/{path}/crash|hang. Never in production.
  bool fault_injection = false;
  /// Restart backoff of supervised actors (doubles per consecutive failure).
  std::chrono::milliseconds supervisor_backoff_min{100};
  std::chrono::milliseconds supervisor_backoff_max{5000};

  bool production() const { return env == app_env::production; }
  bool admin_enabled() const { return !admin_username.empty() && !admin_password.empty(); }
};

/// The outcome of parsing: settings, or one message per bad variable, each
/// naming the variable and what it accepts.
struct parse_result {
  std::optional<settings> value;
  std::vector<std::string> errors;
};

using environment = std::map<std::string, std::string>;

/// Parses and validates `env` (variable name -> value).
parse_result parse_settings(const environment& env);

/// Snapshot of the process environment, taken once in `main`.
environment process_environment();

/// Describes every variable for `--help` and the README.
struct variable_doc {
  const char* name;
  const char* default_value;
  const char* meaning;
};
const std::vector<variable_doc>& documented_variables();

} // namespace clean::config
