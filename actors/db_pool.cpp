#include "actors/db_pool.hpp"

#include "telemetry/logging.hpp"
#include "telemetry/metrics.hpp"

#include <caf/send.hpp>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>

#include <algorithm>

namespace clean {

using telemetry::log;

namespace {

using clock_type = caf::actor_clock;
using time_point = clock_type::time_point;

/// How long a cancel that landed may leave its call running before it is
/// sent again (see expire).
constexpr auto cancel_retry_interval = std::chrono::seconds(1);

int64_t to_ns(time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

bool past(int64_t deadline_ns, time_point now) {
  return deadline_ns > 0 && deadline_ns <= to_ns(now);
}

// The connect error itself (host, user, "password authentication failed")
// is logged with db_connect_failed/db_down, never sent to clients: callers
// reach this before their credentials are checked.
caf::error unavailable(const db_pool_state&) {
  return make_error(errc::database_unavailable, "database_unavailable",
                    "the database is unreachable; retry later");
}

caf::error deadline_error() {
  return make_error(errc::deadline_exceeded, "deadline_exceeded",
                    "the request's deadline passed before the database answered");
}

caf::error pool_timeout_error(std::chrono::milliseconds waited) {
  return make_error(errc::pool_timeout, "db_pool_timeout",
                    "no database connection became free within " + std::to_string(waited.count()) + " ms");
}

void count_error(const db_pool_state& st, const char* kind) {
  if (st.config.metrics)
    st.config.metrics->errors->Add({{"kind", kind}}).Increment();
}

void publish_gauges(const db_pool_state& st) {
  auto* m = st.config.metrics;
  if (!m)
    return;
  double idle = 0, busy = 0, overflow = 0;
  for (const auto& [id, s] : st.slots) {
    if (s.phase == db_slot_phase::connecting)
      continue;
    (s.phase == db_slot_phase::idle ? idle : busy) += 1;
    overflow += s.overflow ? 1 : 0;
  }
  m->idle->Set(idle);
  m->busy->Set(busy);
  m->overflow->Set(overflow);
  m->waiting->Set(static_cast<double>(st.waiters.size()));
}

size_t count_steady(const db_pool_state& st) {
  return static_cast<size_t>(
      std::count_if(st.slots.begin(), st.slots.end(), [](const auto& kv) { return !kv.second.overflow; }));
}

bool any_open(const db_pool_state& st) {
  return std::any_of(st.slots.begin(), st.slots.end(),
                     [](const auto& kv) { return kv.second.phase != db_slot_phase::connecting; });
}

void start_connection(db_pool_pointer self, bool overflow) {
  auto& st = self->state;
  auto id = st.next_slot++;
  db_slot s;
  s.overflow = overflow;
  s.since = self->clock().now();
  s.conn = st.config.start_connection(self, id);
  self->monitor(s.conn);
  st.slots.emplace(id, std::move(s));
}

/// Opens steady connections up to the pool size; while the database is down
/// only one attempt at a time, so an outage costs one connect per backoff.
void fill(db_pool_pointer self) {
  auto& st = self->state;
  auto target = st.down ? size_t{1} : static_cast<size_t>(st.config.size);
  for (auto steady = count_steady(st); steady < target; ++steady)
    start_connection(self, false);
}

/// Opens an overflow connection when requests queue and none is on its way.
void grow(db_pool_pointer self) {
  auto& st = self->state;
  if (st.down || st.waiters.empty())
    return;
  size_t connecting = 0;
  for (const auto& [id, s] : st.slots)
    connecting += s.phase == db_slot_phase::connecting ? 1 : 0;
  auto limit = static_cast<size_t>(st.config.size + st.config.max_overflow);
  if (st.waiters.size() > connecting && st.slots.size() < limit)
    start_connection(self, count_steady(st) >= static_cast<size_t>(st.config.size));
}

void dispatch(db_pool_pointer self, uint64_t slot_id, db_waiter w) {
  auto& st = self->state;
  auto& s = st.slots.at(slot_id);
  auto now = self->clock().now();
  s.phase = db_slot_phase::busy;
  s.seq += 1;
  s.promise = std::move(w.promise);
  s.call = w.call; // kept for a retry; the payload is shared, not copied
  s.attempts = w.attempts;
  s.started = now;
  s.cancel_requested = false;
  s.cancel_in_flight = false;
  s.finished = false;
  if (st.config.metrics)
    st.config.metrics->wait_seconds->Observe(std::chrono::duration<double>(now - w.enqueued).count());
  self->send(s.conn, db_task{s.seq, std::move(w.call)});
}

void pump(db_pool_pointer self) {
  auto& st = self->state;
  while (!st.waiters.empty() && !st.idle.empty()) {
    auto slot = st.idle.back();
    st.idle.pop_back();
    auto w = std::move(st.waiters.front());
    st.waiters.pop_front();
    dispatch(self, slot, std::move(w));
  }
  grow(self);
}

void fail_waiters(db_pool_state& st, const caf::error& err) {
  for (auto& w : st.waiters)
    w.promise.deliver(err);
  st.waiters.clear();
}

void schedule_reconnect(db_pool_pointer self) {
  auto& st = self->state;
  if (st.reconnect_pending)
    return;
  st.reconnect_pending = true;
  auto delay = st.config.reconnect_min;
  for (int i = 1; i < st.connect_failures && delay < st.config.reconnect_max; ++i)
    delay *= 2;
  self->delayed_send(self, std::min(delay, st.config.reconnect_max), reconnect_atom::value);
}

void forget_idle(db_pool_state& st, uint64_t slot) {
  st.idle.erase(std::remove(st.idle.begin(), st.idle.end(), slot), st.idle.end());
}

/// A connection went away (broke, crashed or was closed). Steady ones are
/// replaced at once unless the database looks down.
void lose_slot(db_pool_pointer self, std::map<uint64_t, db_slot>::iterator it) {
  auto& st = self->state;
  forget_idle(st, it->first);
  if (it->second.promise)
    it->second.promise->deliver(
        make_error(errc::database_unavailable, "database_unavailable", "the database connection was lost"));
  bool steady = !it->second.overflow;
  st.slots.erase(it);
  if (steady && !st.down)
    start_connection(self, false);
}

void on_connected(db_pool_pointer self, db_connected& msg) {
  auto& st = self->state;
  auto it = st.slots.find(msg.slot);
  if (it == st.slots.end())
    return;
  if (st.down)
    log(spdlog::level::info, "db_reconnected", "the database is reachable again",
        {{"failed_attempts", st.connect_failures}});
  st.down = false;
  st.connect_failures = 0;
  it->second.phase = db_slot_phase::idle;
  it->second.since = self->clock().now();
  it->second.cancel = std::move(msg.cancel);
  st.idle.push_back(msg.slot);
  fill(self);
  pump(self);
  publish_gauges(st);
}

void on_connect_failed(db_pool_pointer self, const db_connect_failed& msg) {
  auto& st = self->state;
  auto it = st.slots.find(msg.slot);
  if (it == st.slots.end())
    return;
  st.slots.erase(it);
  st.connect_failures += 1;
  st.last_connect_error = msg.error;
  // The first failure and then every tenth: an outage should not flood the log.
  if (st.connect_failures == 1 || st.connect_failures % 10 == 0)
    log(spdlog::level::err, "db_connect_failed", "cannot open a database connection",
        {{"error", msg.error}, {"attempts", st.connect_failures}});
  if (!any_open(st)) {
    if (!st.down)
      log(spdlog::level::err, "db_down", "no database connection is open; refusing requests until one is",
          {{"waiting", st.waiters.size()}});
    st.down = true;
    for (size_t i = 0; i < st.waiters.size(); ++i)
      count_error(st, "unavailable");
    fail_waiters(st, unavailable(st));
  }
  schedule_reconnect(self);
  publish_gauges(st);
}

void make_idle(db_pool_state& st, uint64_t slot_id, db_slot& s, time_point now) {
  s.phase = db_slot_phase::idle;
  s.since = now;
  s.call = db_call{};
  s.finished = false;
  st.idle.push_back(slot_id);
}

void on_done(db_pool_pointer self, db_done& done) {
  auto& st = self->state;
  auto it = st.slots.find(done.slot);
  if (it == st.slots.end() || it->second.seq != done.seq || it->second.phase != db_slot_phase::busy)
    return;
  auto& s = it->second;
  auto now = self->clock().now();
  if (s.promise) {
    // After a server restart every idle connection is dead but nobody knows
    // yet: a call may meet several in a row, so it may try each once.
    auto max_attempts = st.config.size + st.config.max_overflow;
    if (done.broken && done.retry_safe && s.attempts < max_attempts && !past(s.call.deadline_ns, now)) {
      // The connection died under this call before anything committed (a
      // restarted server, a terminated backend): run it on another one.
      st.waiters.push_front(db_waiter{std::move(*s.promise), std::move(s.call), now, s.attempts + 1});
    } else if (done.error) {
      s.promise->deliver(std::move(done.error));
    } else {
      s.promise->deliver(std::move(done.result));
    }
    s.promise.reset();
  }
  if (done.broken) {
    lose_slot(self, it);
  } else if (s.cancel_in_flight) {
    s.finished = true; // handed out again once the cancel has landed
  } else {
    make_idle(st, done.slot, s, now);
  }
  pump(self);
}

void on_cancelled(db_pool_pointer self, uint64_t slot, uint64_t seq) {
  auto& st = self->state;
  auto it = st.slots.find(slot);
  if (it == st.slots.end() || it->second.seq != seq || it->second.phase != db_slot_phase::busy)
    return;
  auto& s = it->second;
  s.cancel_in_flight = false;
  s.cancel_landed = self->clock().now();
  if (s.finished) {
    make_idle(st, slot, s, self->clock().now());
    pump(self);
  }
}

void on_down(db_pool_pointer self, const caf::down_msg& dm) {
  auto& st = self->state;
  auto it = std::find_if(st.slots.begin(), st.slots.end(),
                         [&](const auto& kv) { return kv.second.conn.address() == dm.source; });
  if (it == st.slots.end())
    return; // already accounted for (broke or failed to connect)
  bool was_connecting = it->second.phase == db_slot_phase::connecting;
  log(spdlog::level::err, "db_connection_crashed", "a database connection worker stopped unexpectedly",
      {{"reason", self->system().render(dm.reason)}});
  lose_slot(self, it);
  if (was_connecting && !any_open(st))
    schedule_reconnect(self);
  pump(self);
  publish_gauges(st);
}

/// Asks the server to cancel what runs on `s` (PQcancel opens a connection
/// to the server, so not on this thread); `cancelled_atom` reports back.
void send_cancel(db_pool_pointer self, uint64_t id, db_slot& s) {
  if (!s.cancel)
    return;
  s.cancel_in_flight = true;
  auto pool = caf::actor_cast<caf::actor>(self);
  auto landed = [pool, slot = id, seq = s.seq] {
    caf::anon_send(pool, cancelled_atom::value, slot, seq);
  };
  if (self->state.config.run_cancel)
    self->state.config.run_cancel(s.cancel, landed);
  else
    self->spawn<caf::detached>([cancel = s.cancel, landed] {
      cancel();
      landed();
    });
}

/// Waiters that waited too long get their error; a call running past its
/// deadline is answered now and cancelled on the server.
void expire(db_pool_pointer self, time_point now) {
  auto& st = self->state;
  uint64_t timeouts = 0;
  for (auto it = st.waiters.begin(); it != st.waiters.end();) {
    // A caller whose own deadline passed while it queued also timed out
    // waiting for a connection: both count, so DBPoolExhaustion sees them.
    if (now - it->enqueued >= st.config.wait_timeout) {
      it->promise.deliver(pool_timeout_error(st.config.wait_timeout));
    } else if (past(it->call.deadline_ns, now)) {
      it->promise.deliver(deadline_error());
    } else {
      ++it;
      continue;
    }
    ++timeouts;
    if (st.config.metrics)
      st.config.metrics->wait_seconds->Observe(std::chrono::duration<double>(now - it->enqueued).count());
    it = st.waiters.erase(it);
  }
  for (auto& [id, s] : st.slots) {
    if (s.phase != db_slot_phase::busy || s.cancel_in_flight || !past(s.call.deadline_ns, now))
      continue;
    if (!s.cancel_requested) {
      s.cancel_requested = true;
      if (s.promise) {
        s.promise->deliver(deadline_error());
        s.promise.reset();
      }
      send_cancel(self, id, s);
    } else if (now - s.cancel_landed >= cancel_retry_interval) {
      // The cancel landed but the call still runs: it reached the server
      // between two statements of the call, where it cancels nothing, and
      // the next statement is the one stuck. Ask again until it ends.
      send_cancel(self, id, s);
    }
  }
  if (timeouts > 0) {
    if (st.config.metrics)
      st.config.metrics->pool_timeouts->Increment(static_cast<double>(timeouts));
    log(spdlog::level::warn, "db_pool_timeout", "requests gave up waiting for a database connection",
        {{"timeouts", timeouts},
         {"waiting", st.waiters.size()},
         {"connections", st.slots.size()},
         {"pool_size", st.config.size},
         {"max_overflow", st.config.max_overflow},
         {"timeout_ms", static_cast<int64_t>(st.config.wait_timeout.count())}});
  }
}

void close_idle_overflow(db_pool_pointer self, time_point now) {
  auto& st = self->state;
  for (auto it = st.slots.begin(); it != st.slots.end();) {
    auto& s = it->second;
    if (s.overflow && s.phase == db_slot_phase::idle && now - s.since >= st.config.overflow_idle) {
      forget_idle(st, it->first);
      self->demonitor(s.conn);
      self->send_exit(s.conn, caf::exit_reason::user_shutdown);
      it = st.slots.erase(it);
    } else {
      ++it;
    }
  }
}

void sweep(db_pool_pointer self) {
  auto now = self->clock().now();
  expire(self, now);
  close_idle_overflow(self, now);
  pump(self);
  publish_gauges(self->state);
  self->delayed_send(self, self->state.config.sweep_interval, tick_atom::value);
}

} // namespace

db_pool_state::db_pool_state() = default;

db_pool_state::~db_pool_state() {
  // Connections die with the pool; one blocked in a query stops when it
  // returns (statement_timeout bounds that).
  for (auto& [id, s] : slots)
    caf::anon_send_exit(s.conn, caf::exit_reason::user_shutdown);
}

caf::behavior db_pool(db_pool_pointer self, db_pool_config config, supervised_context ctx) {
  auto& st = self->state;
  st.config = std::move(config);
  st.supervision = std::move(ctx);
  if (st.config.metrics) {
    st.config.metrics->limit_size->Set(st.config.size);
    st.config.metrics->limit_overflow->Set(st.config.max_overflow);
  }
  supervise(self, st.supervision);
  self->set_down_handler([self](caf::down_msg& dm) { on_down(self, dm); });
  fill(self);
  self->delayed_send(self, st.config.sweep_interval, tick_atom::value);
  return {
      [self](db_call& call) -> caf::response_promise {
        auto& st = self->state;
        auto rp = self->make_response_promise();
        auto now = self->clock().now();
        if (st.down) {
          count_error(st, "unavailable");
          rp.deliver(unavailable(st));
        } else if (past(call.deadline_ns, now)) {
          rp.deliver(deadline_error());
        } else {
          st.waiters.push_back(db_waiter{rp, std::move(call), now, 0});
          pump(self);
        }
        return rp;
      },
      [self](db_connected& msg) { on_connected(self, msg); },
      [self](const db_connect_failed& msg) { on_connect_failed(self, msg); },
      [self](db_done& done) { on_done(self, done); },
      [self](cancelled_atom, uint64_t slot, uint64_t seq) { on_cancelled(self, slot, seq); },
      [self](reconnect_atom) {
        self->state.reconnect_pending = false;
        fill(self);
      },
      [self](tick_atom) { sweep(self); },
      [self](beat_atom) { beat(self, self->state.supervision); },
  };
}

} // namespace clean
