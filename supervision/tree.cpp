#include "supervision/tree.hpp"

#include "actors/admin_store.hpp"
#include "actors/api_store.hpp"
#include "actors/db_connection.hpp"
#include "actors/db_gauges.hpp"
#include "actors/db_pool.hpp"
#include "actors/db_probe.hpp"
#include "actors/email.hpp"
#include "actors/health.hpp"
#include "actors/job.hpp"
#include "actors/jobs_runner.hpp"
#include "actors/jobs_store.hpp"
#include "actors/outbox_store.hpp"
#include "actors/stripe_store.hpp"
#include "actors/stripe_webhook.hpp"
#include "config/settings.hpp"
#include "persistence/migrations.hpp"
#include "supervision/actor_metrics.hpp"
#include "supervision/supervisor.hpp"
#include "telemetry/logging.hpp"
#include "telemetry/metrics.hpp"

#include <caf/actor_registry.hpp>
#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>

#include <map>
#include <mutex>
#include <thread>
#include <unistd.h>

namespace clean::supervision {

/// The job actors by name (each restart registers the new instance), and
/// the readiness snapshot they feed.
struct job_directory {
  std::shared_ptr<jobs_health> health;

  void set(const std::string& name, caf::actor h) {
    std::lock_guard<std::mutex> guard{mutex};
    actors[name] = std::move(h);
  }
  caf::actor get(const std::string& name) {
    std::lock_guard<std::mutex> guard{mutex};
    auto it = actors.find(name);
    return it == actors.end() ? caf::actor{} : it->second;
  }

private:
  std::mutex mutex;
  std::map<std::string, caf::actor> actors;
};

namespace {

using namespace std::chrono_literals;

const caf::atom_value db_probe_name = caf::atom("db-probe");
const caf::atom_value health_name = caf::atom("health");
const caf::atom_value db_pool_name = caf::atom("db-pool");
const caf::atom_value db_gauges_name = caf::atom("db-gauges");

/// Restarts of a subtree's children are spread out (100 ms doubling to 5 s)
/// so a dead dependency does not make them spin.
struct tree_options {
  backoff_policy backoff;
  std::shared_ptr<tree_observer> observer;
};

supervisor_spec subtree(const tree_options& opts, std::string path, bool critical,
                        std::vector<child_spec> children) {
  supervisor_spec s;
  s.path = std::move(path);
  s.strategy = restart_strategy::one_for_one;
  s.max_restarts = 10;
  s.period = 60s;
  s.backoff = opts.backoff;
  s.critical = critical;
  s.observer = opts.observer;
  s.children = std::move(children);
  return s;
}

/// Spawns an actor and publishes it under `name` for the actors that talk
/// to it (each restart publishes the new instance).
template <class Handle>
Handle publish(caf::local_actor* parent, caf::atom_value name, Handle h) {
  // put() keeps an existing entry, so the previous instance goes first.
  auto& registry = parent->system().registry();
  registry.erase(name);
  registry.put(name, caf::actor_cast<caf::strong_actor_ptr>(h));
  return h;
}

child_spec probe_child(const config::settings& settings) {
  child_spec c;
  c.id = "probe";
  c.heartbeat_ttl = 5s; // a probe blocks at most READYZ_DB_TIMEOUT_SECONDS
  c.shutdown_timeout = 3s;
  db_probe_config cfg;
  cfg.database_url = settings.database_url;
  cfg.timeout = settings.readyz_db_timeout;
  c.start = [cfg](caf::local_actor* parent, const supervised_context& ctx) {
    // Detached: a probe waits on the network and must not hold a scheduler thread.
    auto h = parent->spawn<caf::detached>(db_probe, cfg, ctx);
    return caf::actor_cast<caf::actor>(publish(parent, db_probe_name, h));
  };
  return c;
}

child_spec pool_child(const config::settings& settings, telemetry::metrics_registry& metrics) {
  child_spec c;
  c.id = "pool";
  c.heartbeat_ttl = 5s;
  c.shutdown_timeout = 3s;
  // Requests queued beyond this are refused at once (503) rather than
  // piling up behind a database that cannot keep up.
  c.mailbox_limit = 20000;
  db_connection_config conn;
  conn.database_url = settings.database_url;
  conn.options.application_name = "clean-service pool";
  conn.options.statement_timeout = settings.database_statement_timeout;
  conn.prepare = [](pqxx::connection_base& c) {
    prepare_api_statements(c);
    prepare_admin_statements(c);
    prepare_stripe_statements(c);
  };
  api_store_options api;
  api.webhooks = !settings.jobs.webhook_url.empty();
  conn.handlers = [api](pqxx::connection_base& c) {
    // One behavior for every payload a pooled connection understands.
    return caf::behavior{api_store(c, api)
                             .as_behavior_impl()
                             ->or_else(admin_store(c).as_behavior_impl())
                             ->or_else(jobs_store(c).as_behavior_impl())
                             ->or_else(outbox_store(c).as_behavior_impl())
                             ->or_else(stripe_store(c).as_behavior_impl())};
  };
  conn.metrics = &metrics.db();
  db_pool_config cfg;
  cfg.size = settings.database_pool_size;
  cfg.max_overflow = settings.database_max_overflow;
  cfg.wait_timeout = settings.database_pool_timeout;
  cfg.metrics = &metrics.db();
  cfg.start_connection = [conn](caf::local_actor* pool, uint64_t slot) {
    // Detached: every libpq call blocks, so each connection has its own thread.
    return pool->spawn<caf::detached>(db_connection, slot, caf::actor_cast<caf::actor>(pool), conn);
  };
  c.start = [cfg](caf::local_actor* parent, const supervised_context& ctx) {
    return publish(parent, db_pool_name, parent->spawn(db_pool, cfg, ctx));
  };
  return c;
}

void publish_outbox_depths(const telemetry::delivery_metrics& m, const persistence::outbox_depths& d) {
  auto set = [](prometheus::Family<prometheus::Gauge>* f, const char* status, int64_t v) {
    if (f)
      f->Add({{"status", status}}).Set(static_cast<double>(v));
  };
  set(m.outbox_queue, "pending", d.pending);
  set(m.outbox_queue, "retry", d.retry);
  set(m.outbox_queue, "dead", d.dead);
  set(m.email_dlq, "pending", d.email_retry);
  set(m.email_dlq, "dead", d.email_dead);
}

child_spec gauges_child(telemetry::metrics_registry& metrics, std::shared_ptr<circuit_board> board) {
  child_spec c;
  c.id = "gauges";
  c.heartbeat_ttl = 5s;
  c.shutdown_timeout = 1s;
  db_gauges_config cfg;
  auto* admin = &metrics.admin();
  auto* delivery = &metrics.delivery();
  c.start = [cfg, admin, delivery, board](caf::local_actor* parent, const supervised_context& ctx) mutable {
    auto& sys = parent->system();
    cfg.publish = [admin, delivery, board, &sys](const persistence::db_gauge_sample& s) {
      admin->break_glass_active->Set(static_cast<double>(s.break_glass_active));
      publish_outbox_depths(*delivery, s.outbox);
      // Kept on the board too: a sender restarted between samples applies
      // the stored overrides at once instead of starting closed.
      board->set_overrides(s.circuit_overrides);
      // Overrides forced on any instance reach this one's breakers.
      for (auto name : {email_name, sms_name, stripe_webhook_name})
        if (auto owner = caf::actor_cast<caf::actor>(sys.registry().get(name)))
          caf::anon_send(owner, circuit_sync_atom::value, s.circuit_overrides);
    };
    cfg.pool = [&sys] {
      return caf::actor_cast<caf::actor>(sys.registry().get(db_pool_name));
    };
    return publish(parent, db_gauges_name, parent->spawn(db_gauges, cfg, ctx));
  };
  return c;
}

std::string host_name() {
  char buf[256] = {};
  ::gethostname(buf, sizeof buf - 1);
  return buf;
}

int64_t unix_micros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

/// How long a job waits for the email actor: two sends' worth (the
/// outbox-dispatch and email-dlq jobs may queue behind each other).
std::chrono::milliseconds email_request_timeout(const config::email_settings& e) {
  return 2 * (e.send_timeout + e.smtp_connect_timeout) + 5s;
}

/// A sender (the email actor's behavior: adapter + breaker), detached —
/// a send blocks on the provider or the disk — and published under `name`.
/// Its beat waits behind the sends queued before it: two jobs send, so it
/// may be silent for two sends at their time limit before it counts as hung.
child_spec sender_child(std::string id, caf::atom_value name, std::chrono::milliseconds send_time,
                        email_config cfg) {
  child_spec c;
  c.id = std::move(id);
  c.heartbeat_interval = 1s;
  c.heartbeat_ttl = 2 * send_time + 15s;
  c.shutdown_timeout = 2s;
  c.start = [cfg, name](caf::local_actor* parent, const supervised_context& ctx) {
    auto h = parent->spawn<caf::detached>(email, cfg, ctx);
    return caf::actor_cast<caf::actor>(publish(parent, name, h));
  };
  return c;
}

/// root/email/sender (EMAIL_ADAPTER, breaker "email") and, with
/// SMS_ADAPTER set, root/email/sms (its own adapter and breaker "sms").
std::vector<child_spec> email_children(const config::settings& settings, telemetry::metrics_registry& metrics,
                                       const std::shared_ptr<circuit_board>& board) {
  email_config email_cfg;
  email_cfg.circuit = "email";
  email_cfg.outcomes = metrics.delivery().adapter_outcomes;
  email_cfg.breaker = settings.email.breaker;
  email_cfg.metrics = &metrics.delivery();
  email_cfg.board = board;
  email_cfg.make_adapter = [email = settings.email, dir = settings.jobs.email_file_dir] {
    return delivery::make_mail_adapter(email, dir);
  };
  std::vector<child_spec> out{sender_child("sender", email_name,
                                           settings.email.send_timeout + settings.email.smtp_connect_timeout,
                                           std::move(email_cfg))};
  if (!settings.sms.enabled())
    return out;
  email_config sms_cfg;
  sms_cfg.circuit = "sms";
  sms_cfg.outcomes = metrics.delivery().sms_notifications;
  // At zero from the start, like the email provider's outcomes.
  for (const char* status : {"sent", "failed", "timeout", "rejected", "circuit_open"})
    sms_cfg.outcomes->Add({{"status", status}});
  sms_cfg.breaker = settings.sms.breaker;
  sms_cfg.metrics = &metrics.delivery();
  sms_cfg.board = board;
  sms_cfg.make_adapter = [sms = settings.sms] {
    return delivery::make_sms_adapter(sms);
  };
  out.push_back(sender_child("sms", sms_name, settings.sms.send_timeout + settings.sms.connect_timeout,
                             std::move(sms_cfg)));
  return out;
}

/// root/stripe/webhook: the breaker in front of webhook processing. Runs in
/// every process that serves the API (it only forwards to the pool).
child_spec stripe_child(const config::settings& settings, telemetry::metrics_registry& metrics,
                        std::shared_ptr<circuit_board> board) {
  child_spec c;
  c.id = "webhook";
  c.heartbeat_ttl = 5s;
  c.shutdown_timeout = 1s;
  // A burst beyond this many waiting deliveries is shed (503): Stripe retries.
  c.mailbox_limit = 10000;
  stripe_webhook_config cfg;
  cfg.breaker = settings.stripe.breaker;
  cfg.timeout = settings.api_request_timeout;
  // A quarter of the pool for webhook batches: fewer, fuller batches beat
  // more in flight (measured: 2 of 8 gave 2.8k/s at 8 and 9.2k/s at 64
  // concurrent deliveries, 4 of 8 gave 2.2k/s and 7.9k/s), and the client
  // API keeps connections of its own.
  cfg.max_batches_in_flight = std::max(1, settings.database_pool_size / 4);
  cfg.delivery = &metrics.delivery();
  cfg.metrics = &metrics.stripe();
  cfg.board = std::move(board);
  c.start = [cfg](caf::local_actor* parent, const supervised_context& ctx) mutable {
    auto& sys = parent->system();
    cfg.pool = [&sys] {
      return caf::actor_cast<caf::actor>(sys.registry().get(db_pool_name));
    };
    return publish(parent, stripe_webhook_name, parent->spawn(stripe_webhook, cfg, ctx));
  };
  return c;
}

/// The jobs subtree's children: the runner, then one actor per job. Both
/// heartbeat at a quarter of JOB_HEARTBEAT_TTL_SECONDS and are killed as
/// hung at twice it, so /readyz reports a silent runner before its
/// supervisor replaces it.
std::vector<child_spec> jobs_children(const config::settings& settings, telemetry::metrics_registry& metrics,
                                      const std::shared_ptr<job_directory>& directory,
                                      const std::shared_ptr<circuit_board>& board) {
  // One stripe_api breaker per process, outliving job actor restarts.
  auto stripe_api = std::make_shared<circuit_breaker>("stripe_api", settings.jobs.stripe_api_breaker);
  auto* delivery = &metrics.delivery();
  delivery->track_circuit("stripe_api", 0); // a new breaker is closed
  stripe_api->on_transition([delivery](breaker_state from, breaker_state to, const std::string& why) {
    delivery->circuit_changed("stripe_api", to_string(to), gauge_value(to));
    telemetry::log(
        to == breaker_state::open ? spdlog::level::warn : spdlog::level::info, "circuit_transition",
        "circuit breaker changed state",
        {{"circuit", "stripe_api"}, {"from", to_string(from)}, {"to", to_string(to)}, {"reason", why}});
  });
  std::vector<child_spec> out;
  auto ttl = std::chrono::duration_cast<milliseconds>(settings.jobs.heartbeat_ttl);
  auto owner = host_name() + ":" + std::to_string(::getpid());
  child_spec runner;
  runner.id = "runner";
  runner.heartbeat_ttl = 2 * ttl;
  runner.heartbeat_interval = std::max(ttl / 4, milliseconds{50});
  runner.shutdown_timeout = 1s;
  jobs_runner_config rc;
  rc.instance = owner;
  rc.host = host_name();
  rc.pid = ::getpid();
  rc.started_at = unix_micros();
  rc.metrics = &metrics.jobs();
  rc.health = directory->health;
  runner.start = [rc](caf::local_actor* parent, const supervised_context& ctx) mutable {
    auto& sys = parent->system();
    rc.pool = [&sys] {
      return caf::actor_cast<caf::actor>(sys.registry().get(db_pool_name));
    };
    return caf::actor_cast<caf::actor>(parent->spawn(jobs_runner, rc, ctx));
  };
  out.push_back(runner);
  for (const auto& job : settings.jobs.jobs) {
    child_spec c;
    c.id = job.name;
    c.heartbeat_ttl = 2 * ttl;
    c.heartbeat_interval = std::max(ttl / 4, milliseconds{50});
    // A run in progress finishes its current item; a backup may need longer.
    c.shutdown_timeout = 5s;
    job_actor_config jc;
    jc.name = job.name;
    jc.job = job;
    jc.settings = settings.jobs;
    jc.database_url = settings.database_url;
    jc.public_base_url = settings.public_base_url;
    jc.owner = owner;
    jc.metrics = &metrics.jobs();
    jc.delivery = &metrics.delivery();
    jc.health = directory->health;
    jc.email_timeout = email_request_timeout(settings.email);
    jc.sms = settings.sms.enabled();
    jc.stripe_api = stripe_api;
    jc.board = board;
    c.start = [jc, directory](caf::local_actor* parent, const supervised_context& ctx) {
      // Detached: a run blocks on the database, files and pg_dump.
      auto h = parent->spawn<caf::detached>(job_actor, jc, ctx);
      directory->set(jc.name, h);
      return h;
    };
    out.push_back(c);
  }
  return out;
}

child_spec health_child(const config::settings& settings, telemetry::metrics_registry& metrics,
                        std::shared_ptr<const std::atomic<bool>> draining,
                        std::shared_ptr<const jobs_health> jobs) {
  child_spec c;
  c.id = "health";
  c.heartbeat_ttl = 3s;
  c.shutdown_timeout = 1s;
  // Every /readyz is one request; beyond this many waiting, shed (503).
  c.mailbox_limit = 1000;
  health_config cfg;
  cfg.probe_timeout = settings.readyz_db_timeout;
  cfg.migrations_head = persistence::head_version();
  cfg.metrics = &metrics.health();
  cfg.draining = std::move(draining);
  cfg.jobs = std::move(jobs);
  c.start = [cfg](caf::local_actor* parent, const supervised_context& ctx) mutable {
    auto& sys = parent->system();
    cfg.find_worker = [&sys] {
      return caf::actor_cast<db_probe_actor>(sys.registry().get(db_probe_name));
    };
    auto h = parent->spawn(health, cfg, ctx);
    return caf::actor_cast<caf::actor>(publish(parent, health_name, h));
  };
  return c;
}

supervisor_spec root_spec(const config::settings& settings, telemetry::metrics_registry& metrics,
                          std::shared_ptr<const std::atomic<bool>> draining,
                          std::shared_ptr<tree_observer> observer, const std::shared_ptr<job_directory>& jobs,
                          std::shared_ptr<circuit_board> board) {
  tree_options opts;
  opts.backoff = {settings.supervisor_backoff_min, settings.supervisor_backoff_max, 0.2, 30s};
  opts.observer = observer;
  supervisor_spec root;
  root.observer = observer;
  root.path = "root";
  root.strategy = restart_strategy::one_for_one;
  // A subtree that keeps giving up is not transient trouble: after three
  // subtree restarts in a minute the process stops rather than limp on.
  root.max_restarts = 3;
  root.period = 60s;
  root.backoff = {std::max(settings.supervisor_backoff_min, milliseconds{500}),
                  std::max(settings.supervisor_backoff_max, milliseconds{10000}), 0.2, 60s};
  // http, db and jobs are critical: a permanent child of theirs being down
  // makes the instance unready. email and stripe wrap outside providers;
  // de-routing this instance cannot fix those, so they only show in detail.
  root.children = {
      supervisor_child(
          subtree(opts, "root/db", true,
                  {probe_child(settings), pool_child(settings, metrics), gauges_child(metrics, board)})),
      supervisor_child(
          subtree(opts, "root/http", true,
                  {health_child(settings, metrics, std::move(draining), jobs ? jobs->health : nullptr)})),
      supervisor_child(
          subtree(opts, "root/jobs", true,
                  jobs ? jobs_children(settings, metrics, jobs, board) : std::vector<child_spec>{})),
      supervisor_child(subtree(opts, "root/email", false,
                               jobs ? email_children(settings, metrics, board) : std::vector<child_spec>{})),
      supervisor_child(subtree(opts, "root/stripe", false, {stripe_child(settings, metrics, board)})),
  };
  return root;
}

} // namespace

tree::tree(caf::actor_system& system, const config::settings& settings, telemetry::metrics_registry& metrics,
           bool run_jobs) :
    system_(system) {
  if (run_jobs) {
    std::vector<std::string> names;
    for (const auto& j : settings.jobs.jobs)
      names.push_back(j.name);
    jobs_ = std::make_shared<job_directory>();
    jobs_->health = std::make_shared<jobs_health>(names, settings.jobs.heartbeat_ttl);
    if (auto* ttl = metrics.jobs().heartbeat_ttl)
      ttl->Set(static_cast<double>(settings.jobs.heartbeat_ttl.count()));
  }
  observer_ = std::make_shared<actor_metrics>(metrics);
  supervised_context ctx;
  ctx.stats = observer_->stats_for("root");
  circuits_ = std::make_shared<circuit_board>();
  root_ = system.spawn(supervisor, root_spec(settings, metrics, draining_, observer_, jobs_, circuits_), ctx);
}

tree::~tree() {
  shutdown();
}

void tree::on_root_failure(std::function<void(const std::string&)> f) {
  auto flag = root_failed_;
  auto& sys = system_;
  root_->attach_functor([flag, f = std::move(f), &sys](const caf::error& reason) {
    if (reason == caf::exit_reason::user_shutdown || reason == caf::exit_reason::normal)
      return;
    flag->store(true);
    f(sys.render(reason));
  });
}

bool tree::wait_started(std::chrono::milliseconds timeout) const {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto& registry = system_.registry();
  while (!registry.get(health_name) || !registry.get(db_probe_name) || !registry.get(db_pool_name)) {
    if (std::chrono::steady_clock::now() > deadline)
      return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

caf::actor tree::email() const {
  return caf::actor_cast<caf::actor>(system_.registry().get(email_name));
}

caf::actor tree::stripe() const {
  return caf::actor_cast<caf::actor>(system_.registry().get(stripe_webhook_name));
}

caf::actor tree::sms() const {
  return caf::actor_cast<caf::actor>(system_.registry().get(sms_name));
}

caf::actor tree::db_pool() const {
  return caf::actor_cast<caf::actor>(system_.registry().get(db_pool_name));
}

void tree::poke_job(const std::string& name) const {
  if (jobs_)
    if (auto h = jobs_->get(name))
      caf::anon_send(h, poll_atom::value);
}

void tree::refresh_db_gauges() const {
  if (auto h = system_.registry().get(db_gauges_name))
    caf::anon_send(caf::actor_cast<caf::actor>(h), tick_atom::value);
}

health_actor tree::health() const {
  return caf::actor_cast<health_actor>(system_.registry().get(health_name));
}

void tree::begin_drain() {
  draining_->store(true);
}

void tree::shutdown() {
  if (stopped_)
    return;
  stopped_ = true;
  caf::anon_send_exit(root_, caf::exit_reason::user_shutdown);
  system_.registry().erase(health_name);
  system_.registry().erase(db_probe_name);
  system_.registry().erase(db_pool_name);
  system_.registry().erase(db_gauges_name);
  // Detached actors only finish once nothing holds them: the registry
  // would keep their threads (and the actor system's shutdown) waiting.
  system_.registry().erase(email_name);
  system_.registry().erase(sms_name);
  system_.registry().erase(stripe_webhook_name);
}

} // namespace clean::supervision
