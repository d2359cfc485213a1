#include "telemetry/metrics.hpp"

#include "config/settings.hpp"

#include "telemetry/process_stats.hpp"

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

namespace clean::telemetry {

namespace {

prometheus::MetricFamily gauge_family(std::string name, std::string help, double value,
                                      prometheus::MetricType type = prometheus::MetricType::Gauge) {
  prometheus::ClientMetric m;
  if (type == prometheus::MetricType::Counter)
    m.counter.value = value;
  else
    m.gauge.value = value;
  return prometheus::MetricFamily{std::move(name), std::move(help), type, {m}};
}

} // namespace

/// Standard `process_*` metrics, read from /proc at scrape time.
struct metrics_registry::process_collector : prometheus::Collectable {
  std::vector<prometheus::MetricFamily> Collect() const override {
    auto s = read_process_stats();
    std::vector<prometheus::MetricFamily> out;
    out.push_back(gauge_family("process_cpu_seconds_total",
                               "Total user and system CPU time spent in seconds.", s.cpu_seconds,
                               prometheus::MetricType::Counter));
    out.push_back(gauge_family("process_start_time_seconds",
                               "Start time of the process since unix epoch in seconds.",
                               s.start_time_seconds));
    out.push_back(gauge_family("process_resident_memory_bytes", "Resident memory size in bytes.",
                               s.resident_memory_bytes));
    out.push_back(gauge_family("process_virtual_memory_bytes", "Virtual memory size in bytes.",
                               s.virtual_memory_bytes));
    out.push_back(gauge_family("process_open_fds", "Number of open file descriptors.", s.open_fds));
    out.push_back(gauge_family("process_max_fds", "Maximum number of open file descriptors.", s.max_fds));
    out.push_back(gauge_family("process_threads", "Number of OS threads in the process.", s.threads));
    out.push_back(gauge_family("process_memory_limit_bytes",
                               "Memory this process may use: its cgroup limit, else the machine's memory.",
                               s.memory_limit_bytes));
    return out;
  }
};

const std::vector<double>& latency_buckets() {
  static const std::vector<double> buckets{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                           0.1,    0.25,  0.5,    1,     2.5,  5,     10};
  return buckets;
}

metrics_registry::metrics_registry(std::string version, bool with_jobs) :
    registry_(std::make_shared<prometheus::Registry>()), process_(std::make_shared<process_collector>()) {
  auto& r = *registry_;
  prometheus::BuildGauge()
      .Name("clean_service_build_info")
      .Help("Build information; the value is always 1.")
      .Register(r)
      .Add({{"version", std::move(version)}})
      .Set(1);

  http_.latency = &prometheus::BuildHistogram()
                       .Name("http_request_latency_seconds")
                       .Help("HTTP request latency by method, route template and status class.")
                       .Register(r);
  http_.errors_5xx = &prometheus::BuildCounter()
                          .Name("http_5xx_total")
                          .Help("HTTP responses with a 5xx status, by route template.")
                          .Register(r);
  http_.rejected = &prometheus::BuildCounter()
                        .Name("http_rejected_requests_total")
                        .Help("Requests refused before routing (bad syntax, limits, timeouts), by reason.")
                        .Register(r);
  http_.open_connections = &prometheus::BuildGauge()
                                .Name("http_open_connections")
                                .Help("Currently open HTTP connections.")
                                .Register(r)
                                .Add({});
  http_.metrics_auth_failures = &prometheus::BuildCounter()
                                     .Name("metrics_auth_failures_total")
                                     .Help("Refused /metrics scrapes, by reason.")
                                     .Register(r);

  health_.check_up = &prometheus::BuildGauge()
                          .Name("readiness_check_up")
                          .Help("1 when the named readiness check passed on its last run, else 0.")
                          .Register(r);
  health_.db_probe_seconds = &prometheus::BuildHistogram()
                                  .Name("readiness_db_probe_seconds")
                                  .Help("Round-trip time of the database readiness probe.")
                                  .Register(r)
                                  .Add({}, latency_buckets());
  auto& migrations = prometheus::BuildGauge()
                         .Name("schema_migrations_version")
                         .Help("Schema version: applied (state=\"current\") and shipped (state=\"head\").")
                         .Register(r);
  health_.migrations_current = &migrations.Add({{"state", "current"}});
  health_.migrations_head = &migrations.Add({{"state", "head"}});
  register_db(r);
  register_api(r);
  register_admin(r);
  if (with_jobs)
    register_jobs(r);
  register_delivery(r);
  register_stripe(r);
}

void metrics_registry::register_stripe(prometheus::Registry& r) {
  stripe_.events =
      &prometheus::BuildCounter()
           .Name("webhook_events_total")
           .Help("Stripe webhook deliveries by result: applied, duplicate, ignored, invalid_signature, "
                 "payload_mismatch, processing_error.")
           .Register(r);
  stripe_.errors = &prometheus::BuildCounter()
                        .Name("webhook_errors_total")
                        .Help("Stripe webhook deliveries refused or failed, by type: invalid_signature, "
                              "payload_mismatch, processing_error.")
                        .Register(r);
  stripe_.outcomes = &prometheus::BuildCounter()
                          .Name("stripe_webhook_events_total")
                          .Help("Stripe webhook deliveries by outcome: ok, duplicate, ignored, error.")
                          .Register(r);
  stripe_.circuit_open = &prometheus::BuildCounter()
                              .Name("stripe_webhook_circuit_open_total")
                              .Help("Openings of the Stripe webhook processing breaker.")
                              .Register(r)
                              .Add({});
  stripe_.duration = &prometheus::BuildHistogram()
                          .Name("stripe_webhook_duration_seconds")
                          .Help("Time from a Stripe delivery's arrival to its answer.")
                          .Register(r)
                          .Add({}, latency_buckets());
  for (const char* result :
       {"applied", "duplicate", "ignored", "invalid_signature", "payload_mismatch", "processing_error"})
    stripe_.events->Add({{"result", result}});
  for (const char* type : {"invalid_signature", "payload_mismatch", "processing_error"})
    stripe_.errors->Add({{"type", type}});
  for (const char* outcome : {"ok", "duplicate", "ignored", "error"})
    stripe_.outcomes->Add({{"outcome", outcome}});
}

void stripe_metrics::count(const std::string& result, double seconds) const {
  if (!events)
    return;
  events->Add({{"result", result}}).Increment();
  bool error = result == "invalid_signature" || result == "payload_mismatch" || result == "processing_error";
  if (error)
    errors->Add({{"type", result}}).Increment();
  outcomes->Add({{"outcome", error ? "error" : result == "applied" ? "ok" : result}}).Increment();
  duration->Observe(seconds);
}

void metrics_registry::register_delivery(prometheus::Registry& r) {
  delivery_.circuit_state = &prometheus::BuildGauge()
                                 .Name("circuit_state")
                                 .Help("Circuit breaker state: 0 closed, 1 open, 2 half-open.")
                                 .Register(r);
  delivery_.circuit_transitions = &prometheus::BuildCounter()
                                       .Name("circuit_transitions_total")
                                       .Help("Circuit breaker state changes, by breaker and new state.")
                                       .Register(r);
  delivery_.adapter_outcomes =
      &prometheus::BuildCounter()
           .Name("email_adapter_outcomes_total")
           .Help("Email provider calls by outcome: sent, duplicate, failed, timeout, rejected, and "
                 "circuit_open (not attempted).")
           .Register(r);
  delivery_.notifications =
      &prometheus::BuildCounter()
           .Name("email_notifications_total")
           .Help("Email notifications by template and status: delivered, skipped, failed (will retry), "
                 "dead, deferred (breaker open).")
           .Register(r);
  delivery_.outbox_queue =
      &prometheus::BuildGauge()
           .Name("outbox_queue_messages")
           .Help("Outbox events by status, from the database (status=\"dead\" is the DLQ).")
           .Register(r);
  delivery_.email_dlq = &prometheus::BuildGauge()
                             .Name("email_dlq_messages")
                             .Help("Email events waiting for a retry (pending) or given up on (dead), from "
                                   "the database.")
                             .Register(r);
  delivery_.sms_notifications = &prometheus::BuildCounter()
                                     .Name("sms_notifications_total")
                                     .Help("SMS provider calls by outcome: sent, failed, timeout, rejected, "
                                           "circuit_open (not attempted).")
                                     .Register(r);
  for (const char* status : {"sent", "duplicate", "failed", "timeout", "rejected", "circuit_open"})
    delivery_.adapter_outcomes->Add({{"status", status}});
  for (const char* status : {"pending", "retry", "dead"})
    delivery_.outbox_queue->Add({{"status", status}});
  for (const char* status : {"pending", "dead"})
    delivery_.email_dlq->Add({{"status", status}});
  for (const char* tmpl :
       {"booking_confirmation", "booking_reminder", "booking_completed", "booking_cancelled",
        "invoice_issued", "invoice_reminder", "nps_survey", "payment_failed"})
    for (const char* status : {"delivered", "skipped", "failed", "dead", "deferred"})
      delivery_.notifications->Add({{"template", tmpl}, {"status", status}});
}

void delivery_metrics::track_circuit(const std::string& circuit, int gauge) const {
  if (circuit_state)
    circuit_state->Add({{"circuit", circuit}}).Set(gauge);
  // Every target state at zero, so the first opening is an increase().
  if (circuit_transitions)
    for (const char* to : {"closed", "open", "half_open", "forced_open", "forced_closed"})
      circuit_transitions->Add({{"circuit", circuit}, {"to", to}});
}

void delivery_metrics::circuit_changed(const std::string& circuit, const std::string& to, int gauge) const {
  if (circuit_transitions)
    circuit_transitions->Add({{"circuit", circuit}, {"to", to}}).Increment();
  if (circuit_state)
    circuit_state->Add({{"circuit", circuit}}).Set(gauge);
}

void delivery_metrics::count_notification(const std::string& template_name,
                                          const std::string& outcome) const {
  if (!notifications || template_name.empty())
    return;
  std::string status;
  if (outcome == "delivered")
    status = "delivered";
  else if (outcome == "duplicate" || outcome == "skipped")
    status = "skipped";
  else if (outcome == "retry")
    status = "failed";
  else if (outcome == "dead" || outcome == "deferred")
    status = outcome;
  else
    return; // lease_lost: another worker owns the event now
  notifications->Add({{"template", template_name}, {"status", status}}).Increment();
}

void metrics_registry::register_db(prometheus::Registry& r) {
  auto& conns = prometheus::BuildGauge()
                    .Name("db_pool_connections")
                    .Help("Database pool connections: idle and busy ones, and how many of them are overflow "
                          "connections opened beyond DATABASE_POOL_SIZE.")
                    .Register(r);
  db_.idle = &conns.Add({{"state", "idle"}});
  db_.busy = &conns.Add({{"state", "busy"}});
  db_.overflow = &conns.Add({{"state", "overflow"}});
  db_.waiting = &prometheus::BuildGauge()
                     .Name("db_pool_waiting_requests")
                     .Help("Requests queued for a database connection.")
                     .Register(r)
                     .Add({});
  auto& limits = prometheus::BuildGauge()
                     .Name("db_pool_limit_connections")
                     .Help("Configured pool limits: DATABASE_POOL_SIZE (kind=\"size\") and "
                           "DATABASE_MAX_OVERFLOW (kind=\"max_overflow\").")
                     .Register(r);
  db_.limit_size = &limits.Add({{"kind", "size"}});
  db_.limit_overflow = &limits.Add({{"kind", "max_overflow"}});
  db_.pool_timeouts =
      &prometheus::BuildCounter()
           .Name("db_pool_timeout_total")
           .Help("Requests that waited DATABASE_POOL_TIMEOUT_SECONDS without getting a connection.")
           .Register(r)
           .Add({});
  db_.wait_seconds = &prometheus::BuildHistogram()
                          .Name("db_pool_wait_seconds")
                          .Help("Time requests waited for a pooled connection.")
                          .Register(r)
                          .Add({}, latency_buckets());
  db_.query_seconds = &prometheus::BuildHistogram()
                           .Name("db_query_duration_seconds")
                           .Help("Database work per request (one transaction), by operation.")
                           .Register(r);
  db_.errors = &prometheus::BuildCounter()
                    .Name("db_errors_total")
                    .Help("Failed database calls by kind: connection, timeout, serialization, constraint, "
                          "in_doubt, query, unavailable (refused while the database is down).")
                    .Register(r);
  for (const char* kind :
       {"connection", "timeout", "serialization", "constraint", "in_doubt", "query", "unavailable"})
    db_.errors->Add({{"kind", kind}});
}

void metrics_registry::register_api(prometheus::Registry& r) {
  api_.auth_failures = &prometheus::BuildCounter()
                            .Name("api_auth_failures_total")
                            .Help("API requests refused for their credentials, by reason (missing, invalid).")
                            .Register(r);
  for (const char* reason : {"missing", "invalid"})
    api_.auth_failures->Add({{"reason", reason}});
  api_.errors = &prometheus::BuildCounter()
                     .Name("api_errors_total")
                     .Help("API error responses by route template and error code.")
                     .Register(r);
  api_.replays = &prometheus::BuildCounter()
                      .Name("api_idempotent_replays_total")
                      .Help("POSTs answered from a stored response because their Idempotency-Key was seen.")
                      .Register(r)
                      .Add({});
}

void metrics_registry::register_admin(prometheus::Registry& r) {
  admin_.requests = &prometheus::BuildCounter()
                         .Name("admin_requests_total")
                         .Help("Admin API requests by route template and outcome (success, unauthorized, "
                               "throttled, read_only, forbidden, client_error, error).")
                         .Register(r);
  admin_.break_glass_active = &prometheus::BuildGauge()
                                   .Name("break_glass_sessions_active")
                                   .Help("Break-glass sessions open now (not ended, not expired), from the "
                                         "database.")
                                   .Register(r)
                                   .Add({});
}

namespace {
bool sends_email(const std::string& job) {
  return job == "booking-reminders" || job == "invoice-reminders" || job == "nps-send" ||
         job == "email-dlq" || job == "outbox-dispatch";
}
} // namespace

void metrics_registry::register_jobs(prometheus::Registry& r) {
  auto& heartbeat =
      prometheus::BuildGauge()
          .Name("job_last_heartbeat_timestamp")
          .Help("Unix time of the last heartbeat of each job and of the runner (job=\"jobs-runner\").")
          .Register(r);
  auto& up = prometheus::BuildGauge()
                 .Name("job_runner_up")
                 .Help("1 while the job's actor (or the runner) is alive in this process.")
                 .Register(r);
  auto& success = prometheus::BuildGauge()
                      .Name("job_last_success_timestamp")
                      .Help("Unix time of the job's last successful run (from the database at start).")
                      .Register(r);
  auto& overdue = prometheus::BuildGauge()
                      .Name("job_overdue")
                      .Help("1 when the job has had no success for JOB_OVERDUE_FACTOR periods.")
                      .Register(r);
  auto& runs =
      prometheus::BuildCounter()
          .Name("job_runs_total")
          .Help("Job runs by outcome: success, failure, skipped (slot taken or lock held elsewhere).")
          .Register(r);
  auto& duration =
      prometheus::BuildHistogram().Name("job_duration_seconds").Help("Duration of job runs.").Register(r);
  auto& email = prometheus::BuildCounter()
                    .Name("email_jobs_total")
                    .Help("Emails handled by email-sending jobs: sent, skipped (duplicate or no longer "
                          "applicable), error.")
                    .Register(r);
  jobs_.errors = &prometheus::BuildCounter()
                      .Name("job_errors_total")
                      .Help("Failed job runs by job and reason (database, io, backup, exception).")
                      .Register(r);
  static const std::vector<double> duration_buckets{0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800};
  std::vector<std::string> names{"jobs-runner"};
  for (const auto& job : config::job_catalogue())
    names.push_back(job.name);
  for (const auto& name : names) {
    job_series s;
    s.last_heartbeat = &heartbeat.Add({{"job", name}});
    s.up = &up.Add({{"job", name}});
    if (name != "jobs-runner") {
      s.last_success = &success.Add({{"job", name}});
      s.overdue = &overdue.Add({{"job", name}});
      s.runs_success = &runs.Add({{"job", name}, {"outcome", "success"}});
      s.runs_failure = &runs.Add({{"job", name}, {"outcome", "failure"}});
      s.runs_skipped = &runs.Add({{"job", name}, {"outcome", "skipped"}});
      s.duration = &duration.Add({{"job", name}}, duration_buckets);
      // Every reason a job can fail with exists from the start, so the first
      // failure is an increase() and not a new series.
      for (const char* reason : {"database", "exception"})
        jobs_.errors->Add({{"job", name}, {"reason", reason}});
      if (name == "backup")
        jobs_.errors->Add({{"job", name}, {"reason", "backup"}});
      if (name == "backup" || name == "storage-janitor")
        jobs_.errors->Add({{"job", name}, {"reason", "io"}});
      if (name == "stripe-reconcile")
        jobs_.errors->Add({{"job", name}, {"reason", "stripe_api"}});
    }
    if (sends_email(name)) {
      s.email_sent = &email.Add({{"job", name}, {"status", "sent"}});
      s.email_skipped = &email.Add({{"job", name}, {"status", "skipped"}});
      s.email_error = &email.Add({{"job", name}, {"status", "error"}});
    }
    jobs_.jobs.emplace_back(name, s);
  }
  jobs_.heartbeat_ttl = &prometheus::BuildGauge()
                             .Name("job_heartbeat_ttl_seconds")
                             .Help("JOB_HEARTBEAT_TTL_SECONDS: a heartbeat older than this is stale.")
                             .Register(r)
                             .Add({});
  jobs_.storage_used =
      &prometheus::BuildGauge()
           .Name("storage_used_bytes")
           .Help("Bytes of files under STORAGE_DIR (exports, backups), as of the last janitor run.")
           .Register(r)
           .Add({});
  jobs_.storage_free = &prometheus::BuildGauge()
                            .Name("storage_free_bytes")
                            .Help("Free bytes on the file system holding STORAGE_DIR.")
                            .Register(r)
                            .Add({});
  jobs_.storage_size = &prometheus::BuildGauge()
                            .Name("storage_size_bytes")
                            .Help("Size of the file system holding STORAGE_DIR, in bytes.")
                            .Register(r)
                            .Add({});
  jobs_.backup_last_success =
      &prometheus::BuildGauge()
           .Name("backup_last_success_timestamp")
           .Help("Unix time of the last verified backup (from the database at start).")
           .Register(r)
           .Add({});
  jobs_.outbox_events =
      &prometheus::BuildCounter()
           .Name("outbox_events_total")
           .Help("Outbox deliveries by kind and outcome (delivered, duplicate, skipped, retry, "
                 "dead, deferred).")
           .Register(r);
  // At zero from the start, so increase() sees the first dead letter.
  for (const char* kind : {"email", "sms", "export", "webhook"})
    for (const char* outcome : {"delivered", "duplicate", "skipped", "retry", "dead", "deferred"})
      jobs_.outbox_events->Add({{"kind", kind}, {"outcome", outcome}});
}

const job_series* jobs_metrics::find(const std::string& job) const {
  for (const auto& [name, s] : jobs)
    if (name == job)
      return &s;
  return nullptr;
}

void jobs_metrics::count_error(const std::string& job, const std::string& reason) const {
  if (errors)
    errors->Add({{"job", job}, {"reason", reason}}).Increment();
}

metrics_registry::~metrics_registry() = default;

void metrics_registry::add_collectable(std::shared_ptr<prometheus::Collectable> c) {
  extra_.push_back(std::move(c));
}

std::vector<prometheus::MetricFamily> metrics_registry::collect() const {
  auto families = registry_->Collect();
  for (auto& c : extra_) {
    auto more = c->Collect();
    families.insert(families.end(), std::make_move_iterator(more.begin()),
                    std::make_move_iterator(more.end()));
  }
  auto process = process_->Collect();
  families.insert(families.end(), std::make_move_iterator(process.begin()),
                  std::make_move_iterator(process.end()));
  return families;
}

std::string metrics_registry::render() const {
  return prometheus::TextSerializer{}.Serialize(collect());
}

} // namespace clean::telemetry
