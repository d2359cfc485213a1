#include "actors/job.hpp"

#include "actors/email.hpp"
#include "actors/interfaces.hpp"

#include "jobs/run.hpp"
#include "persistence/connection.hpp"
#include "persistence/job_state.hpp"
#include "persistence/outbox.hpp"
#include "telemetry/logging.hpp"
#include "telemetry/metrics.hpp"

#include <caf/send.hpp>
#include <pqxx/pqxx>
#include <prometheus/gauge.h>

namespace clean {

using telemetry::log;

namespace {

namespace store = persistence::job_store;

int64_t unix_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

const telemetry::job_series* series_of(const job_actor_state& st) {
  return st.config.metrics ? st.config.metrics->find(st.config.name) : nullptr;
}

/// Tells /readyz and the gauges this job is alive.
void mark_alive(job_actor_pointer self) {
  auto& st = self->state;
  if (auto* job = st.config.health ? st.config.health->find(st.config.name) : nullptr)
    job->beat_ms.store(jobs_health::now_ms());
  if (auto* s = series_of(st))
    s->last_heartbeat->Set(static_cast<double>(unix_seconds()));
}

/// Mid-run (the mailbox is not being read): heartbeat to the supervisor too.
void alive(job_actor_pointer self) {
  auto& st = self->state;
  if (st.supervision.supervisor)
    caf::anon_send(st.supervision.supervisor, heartbeat_atom::value, self->address());
  mark_alive(self);
}

bool connected(job_actor_pointer self) {
  auto& st = self->state;
  if (st.conn && st.conn->is_open())
    return true;
  try {
    persistence::connect_options opts;
    opts.application_name = "clean-service job " + st.config.name;
    // A query stuck behind a lock must not wedge the job (and its lock) forever.
    opts.statement_timeout = st.config.settings.statement_timeout;
    st.conn = persistence::connect(st.config.database_url, opts);
    persistence::outbox::prepare(*st.conn); // jobs write outbox events (stripe-reconcile)
    return true;
  } catch (const std::exception& e) {
    st.conn.reset();
    log(spdlog::level::warn, "job_db_unavailable", "job cannot reach the database; retrying at the next poll",
        {{"job", st.config.name}, {"error", e.what()}});
    return false;
  }
}

/// After downtime: slots were missed if the stored next slot is more than
/// one period in the past. catch_up runs once now; skip moves to the next
/// slot. Either way it is logged, never silent.
void handle_missed(job_actor_pointer self, pqxx::transaction_base& tx, const store::job_row& row,
                   int64_t now) {
  auto& st = self->state;
  auto period = st.schedule->period();
  auto due = row.next_run_at / 1000000;
  // A slot later than this schedule's next one was computed from an older
  // schedule: the new one takes effect now, not after the old slot.
  auto next = st.schedule->next_after(now);
  if (due > next) {
    store::set_next_run(tx, st.config.name, next * 1000000);
    log(spdlog::level::info, "job_schedule_changed",
        "stored slot is later than the schedule allows; moved it",
        {{"job", st.config.name}, {"schedule", st.config.job.schedule}, {"next_run_unix", next}});
    return;
  }
  if (row.paused || row.next_run_at == 0 || period <= 0 || now - due <= period)
    return;
  auto missed = (now - due) / period + 1;
  bool skip = st.config.job.missed == clean::config::missed_policy::skip;
  if (skip)
    store::set_next_run(tx, st.config.name, st.schedule->next_after(now) * 1000000);
  log(spdlog::level::warn, "job_missed_runs",
      skip ? "missed slots skipped" : "missed slots: running once now",
      {{"job", st.config.name},
       {"missed", missed},
       {"policy", skip ? "skip" : "catch_up"},
       {"action", skip ? "waiting for the next slot" : "one catch-up run"}});
}

void publish_row(job_actor_pointer self, const store::job_row& row, int64_t now) {
  auto& st = self->state;
  auto* job = st.config.health ? st.config.health->find(st.config.name) : nullptr;
  auto period = st.schedule->period();
  auto since = row.last_success_at > 0 ? row.last_success_at : row.created_at;
  bool overdue = !row.paused && period < INT64_MAX / 1000 &&
                 now - since / 1000000 > period * st.config.settings.overdue_factor;
  if (job) {
    job->failures.store(row.consecutive_failures);
    job->paused.store(row.paused);
    job->overdue.store(overdue);
  }
  if (auto* s = series_of(st)) {
    s->overdue->Set(overdue ? 1 : 0);
    if (row.last_success_at > 0)
      s->last_success->Set(static_cast<double>(row.last_success_at / 1000000));
    if (st.config.name == "backup" && row.last_success_at > 0 && st.config.metrics)
      st.config.metrics->backup_last_success->Set(static_cast<double>(row.last_success_at / 1000000));
  }
}

void run(job_actor_pointer self) {
  auto& st = self->state;
  const auto* def = jobs::find_job(st.config.name);
  jobs::job_context ctx{*st.conn,
                        st.config.settings,
                        st.config.database_url,
                        st.config.public_base_url,
                        [self] { alive(self); },
                        st.config.metrics,
                        series_of(st),
                        st.send_email,
                        st.config.delivery,
                        st.send_sms,
                        st.config.stripe_api,
                        st.config.board};
  auto report = jobs::run_job(*def, ctx, st.config.owner);
  if (report.connection_broken)
    st.conn.reset();
}

void poll(job_actor_pointer self) {
  auto& st = self->state;
  alive(self);
  if (!connected(self))
    return;
  try {
    auto now = unix_seconds();
    bool due = false;
    {
      pqxx::nontransaction tx{*st.conn};
      store::ensure(tx, st.config.name, st.schedule->next_after(now) * 1000000);
      store::heartbeat(tx, st.config.name);
      auto row = store::get(tx, st.config.name);
      if (!st.missed_checked) {
        st.missed_checked = true;
        handle_missed(self, tx, *row, now);
        row = store::get(tx, st.config.name);
      }
      publish_row(self, *row, now);
      if (!row->paused && row->next_run_at <= now * 1000000 + 999999)
        due = store::claim_slot(tx, st.config.name, st.schedule->next_after(now) * 1000000);
    }
    if (due)
      run(self);
  } catch (const pqxx::broken_connection& e) {
    st.conn.reset();
    log(spdlog::level::warn, "job_db_unavailable", "job lost its database connection",
        {{"job", st.config.name}, {"error", e.what()}});
  } catch (const std::exception& e) {
    log(spdlog::level::err, "job_poll_failed", "job could not check its schedule",
        {{"job", st.config.name}, {"error", e.what()}});
  }
}

/// The poll loop: exactly one timer message is ever in flight, so pokes
/// (which poll at once) never multiply it.
void schedule_poll(job_actor_pointer self) {
  auto& st = self->state;
  auto interval = st.config.settings.poll_interval;
  // Short schedules are polled as often as they run.
  auto period = std::chrono::milliseconds{std::min<int64_t>(st.schedule->period(), 86400) * 1000};
  self->delayed_send(self, std::min(interval, period), poll_atom::value, tick_atom::value);
}

} // namespace

job_actor_state::job_actor_state() = default;
job_actor_state::~job_actor_state() = default;

caf::behavior job_actor(job_actor_pointer self, job_actor_config cfg, supervised_context ctx) {
  auto& st = self->state;
  st.config = std::move(cfg);
  st.supervision = std::move(ctx);
  std::string error;
  st.schedule = clean::config::schedule::parse(st.config.job.schedule, error);
  if (!st.schedule || !jobs::find_job(st.config.name)) {
    self->quit(caf::make_error(caf::sec::invalid_argument, "bad job configuration: " + st.config.name));
    return {};
  }
  supervise(self, st.supervision);
  st.send_email = email_sender_for(self->system(), st.config.email_timeout);
  if (st.config.sms)
    st.send_sms = email_sender_for(self->system(), st.config.email_timeout, sms_name);
  if (auto* s = series_of(st)) {
    s->up->Set(1);
    self->attach_functor([s](const caf::error&) { s->up->Set(0); });
  }
  self->send(self, poll_atom::value, tick_atom::value);
  return {
      [self](poll_atom, tick_atom) {
        poll(self);
        schedule_poll(self);
      },
      // A poke (run requested, paused, resumed): look at the row now.
      [self](poll_atom) { poll(self); },
      [self](beat_atom) {
        beat(self, self->state.supervision);
        mark_alive(self);
      },
  };
}

} // namespace clean
