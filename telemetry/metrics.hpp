#pragma once

#include <prometheus/metric_family.h>

#include <memory>
#include <string>
#include <vector>

namespace prometheus {
class Registry;
class Collectable;
class Counter;
class Gauge;
class Histogram;
template <typename T>
class Family;
} // namespace prometheus

namespace clean::telemetry {

/// Metric families of the HTTP edge. Created once at start-up; request
/// handling only increments children it cached, never looks families up.
struct http_metrics {
  prometheus::Family<prometheus::Histogram>* latency = nullptr;  // method, path, status_class
  prometheus::Family<prometheus::Counter>* errors_5xx = nullptr; // path
  prometheus::Family<prometheus::Counter>* rejected = nullptr;   // reason
  prometheus::Gauge* open_connections = nullptr;
  prometheus::Family<prometheus::Counter>* metrics_auth_failures = nullptr; // reason
};

/// Readiness results, refreshed by the health actor.
struct health_metrics {
  prometheus::Family<prometheus::Gauge>* check_up = nullptr; // check
  prometheus::Histogram* db_probe_seconds = nullptr;
  prometheus::Gauge* migrations_current = nullptr;
  prometheus::Gauge* migrations_head = nullptr;
};

/// The database pool and its connections. Updated from the pool actor and
/// the connection threads (prometheus-cpp metrics are thread-safe).
struct db_metrics {
  prometheus::Gauge* idle = nullptr;     // db_pool_connections{state="idle"}
  prometheus::Gauge* busy = nullptr;     // db_pool_connections{state="busy"}
  prometheus::Gauge* overflow = nullptr; // db_pool_connections{state="overflow"}: open beyond the pool size
  prometheus::Gauge* waiting = nullptr;  // db_pool_waiting_requests
  prometheus::Gauge* limit_size = nullptr;
  prometheus::Gauge* limit_overflow = nullptr;
  prometheus::Counter* pool_timeouts = nullptr;                       // db_pool_timeout_total
  prometheus::Histogram* wait_seconds = nullptr;                      // db_pool_wait_seconds
  prometheus::Family<prometheus::Histogram>* query_seconds = nullptr; // db_query_duration_seconds{query}
  prometheus::Family<prometheus::Counter>* errors = nullptr;          // db_errors_total{kind}
};

/// The client API: refused credentials, errors by code, idempotent replays.
struct api_metrics {
  prometheus::Family<prometheus::Counter>* auth_failures = nullptr; // api_auth_failures_total{reason}
  prometheus::Family<prometheus::Counter>* errors = nullptr;        // api_errors_total{route,code}
  prometheus::Counter* replays = nullptr;                           // api_idempotent_replays_total
};

/// The admin surface: every admin request by route template and outcome,
/// and the open break-glass sessions (sampled from the database).
struct admin_metrics {
  prometheus::Family<prometheus::Counter>* requests = nullptr; // admin_requests_total{route,outcome}
  prometheus::Gauge* break_glass_active = nullptr;             // break_glass_sessions_active
};

/// Email and outbox delivery: breakers, provider outcomes, notifications,
/// and the queue depths sampled from the database (every instance).
struct delivery_metrics {
  prometheus::Family<prometheus::Gauge>* circuit_state = nullptr; // circuit_state{circuit}
  prometheus::Family<prometheus::Counter>* circuit_transitions =
      nullptr; // circuit_transitions_total{circuit,to}
  prometheus::Family<prometheus::Counter>* adapter_outcomes = nullptr; // email_adapter_outcomes_total{status}
  prometheus::Family<prometheus::Counter>* notifications =
      nullptr;                                                   // email_notifications_total{template,status}
  prometheus::Family<prometheus::Gauge>* outbox_queue = nullptr; // outbox_queue_messages{status}
  prometheus::Family<prometheus::Gauge>* email_dlq = nullptr;    // email_dlq_messages{status}
  prometheus::Family<prometheus::Counter>* sms_notifications = nullptr; // sms_notifications_total{status}

  /// Publishes a breaker's state and creates its transition series at zero.
  void track_circuit(const std::string& circuit, int gauge) const;
  /// A breaker moved to state `to` (its name; `gauge` is 0 closed, 1 open, 2 half-open).
  void circuit_changed(const std::string& circuit, const std::string& to, int gauge) const;

  /// email_notifications_total for an outbox outcome of an email event.
  void count_notification(const std::string& template_name, const std::string& outcome) const;
};

/// Stripe webhooks, named as the runbooks name them.
struct stripe_metrics {
  prometheus::Family<prometheus::Counter>* events = nullptr;   // webhook_events_total{result}
  prometheus::Family<prometheus::Counter>* errors = nullptr;   // webhook_errors_total{type}
  prometheus::Family<prometheus::Counter>* outcomes = nullptr; // stripe_webhook_events_total{outcome}
  prometheus::Counter* circuit_open = nullptr;                 // stripe_webhook_circuit_open_total
  prometheus::Histogram* duration = nullptr;                   // stripe_webhook_duration_seconds

  /// One delivery: `result` is applied, duplicate, ignored, invalid_signature,
  /// payload_mismatch or processing_error (the last three are also errors).
  void count(const std::string& result, double seconds) const;
};

/// One job's series (label `job`), cached at start-up.
struct job_series {
  prometheus::Gauge* last_heartbeat = nullptr; // job_last_heartbeat_timestamp
  prometheus::Gauge* up = nullptr;             // job_runner_up
  prometheus::Gauge* last_success = nullptr;   // job_last_success_timestamp
  prometheus::Gauge* overdue = nullptr;        // job_overdue
  prometheus::Counter* runs_success = nullptr; // job_runs_total{outcome="success"}
  prometheus::Counter* runs_failure = nullptr;
  prometheus::Counter* runs_skipped = nullptr;
  prometheus::Histogram* duration = nullptr; // job_duration_seconds
  prometheus::Counter* email_sent = nullptr; // email_jobs_total{status="sent"} (email jobs only)
  prometheus::Counter* email_skipped = nullptr;
  prometheus::Counter* email_error = nullptr;
};

/// The jobs runner, its jobs, storage and backups, and outbox deliveries.
struct jobs_metrics {
  std::vector<std::pair<std::string, job_series>> jobs;             // includes "jobs-runner"
  prometheus::Family<prometheus::Counter>* errors = nullptr;        // job_errors_total{job,reason}
  prometheus::Gauge* heartbeat_ttl = nullptr;                       // job_heartbeat_ttl_seconds
  prometheus::Gauge* storage_used = nullptr;                        // storage_used_bytes
  prometheus::Gauge* storage_free = nullptr;                        // storage_free_bytes
  prometheus::Gauge* storage_size = nullptr;                        // storage_size_bytes
  prometheus::Gauge* backup_last_success = nullptr;                 // backup_last_success_timestamp
  prometheus::Family<prometheus::Counter>* outbox_events = nullptr; // outbox_events_total{kind,outcome}

  const job_series* find(const std::string& job) const;
  void count_error(const std::string& job, const std::string& reason) const;
};

/// The process's metric registry (one of the two globals the house style
/// allows, but passed down explicitly) plus process-level collectors.
class metrics_registry {
public:
  /// `with_jobs`: register the jobs runner's series. An HTTP-only process
  /// (`serve --no-jobs`) leaves them out, so it never exports a runner
  /// heartbeat of 0 that would fire JobsRunnerStale or BackupStale.
  explicit metrics_registry(std::string version, bool with_jobs = true);
  ~metrics_registry();

  metrics_registry(const metrics_registry&) = delete;
  metrics_registry& operator=(const metrics_registry&) = delete;

  prometheus::Registry& registry() { return *registry_; }
  const http_metrics& http() const { return http_; }
  const health_metrics& health() const { return health_; }
  const db_metrics& db() const { return db_; }
  const api_metrics& api() const { return api_; }
  const admin_metrics& admin() const { return admin_; }
  const jobs_metrics& jobs() const { return jobs_; }
  const delivery_metrics& delivery() const { return delivery_; }
  const stripe_metrics& stripe() const { return stripe_; }

  /// Adds a collector whose families are rendered with the registry's (for
  /// values read at scrape time). Call during start-up.
  void add_collectable(std::shared_ptr<prometheus::Collectable> c);

  /// Every family, as render() would print them. Thread-safe.
  std::vector<prometheus::MetricFamily> collect() const;

  /// Renders every family in the Prometheus text exposition format 0.0.4.
  /// Thread-safe; called off the HTTP event loop.
  std::string render() const;

private:
  void register_db(prometheus::Registry& r);
  void register_api(prometheus::Registry& r);
  void register_admin(prometheus::Registry& r);
  void register_jobs(prometheus::Registry& r);
  void register_delivery(prometheus::Registry& r);
  void register_stripe(prometheus::Registry& r);

  std::shared_ptr<prometheus::Registry> registry_;
  struct process_collector;
  std::shared_ptr<process_collector> process_;
  std::vector<std::shared_ptr<prometheus::Collectable>> extra_;
  http_metrics http_;
  health_metrics health_;
  db_metrics db_;
  api_metrics api_;
  admin_metrics admin_;
  jobs_metrics jobs_;
  delivery_metrics delivery_;
  stripe_metrics stripe_;
};

/// Histogram buckets for request latencies (seconds), 0.5 ms to 10 s.
const std::vector<double>& latency_buckets();

} // namespace clean::telemetry
