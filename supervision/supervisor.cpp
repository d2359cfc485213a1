#include "supervision/supervisor.hpp"

#include "telemetry/logging.hpp"

#include <caf/actor_cast.hpp>
#include <caf/exit_reason.hpp>
#include <caf/sec.hpp>

#include <algorithm>
#include <cmath>

namespace clean::supervision {

namespace {

using restart_atom = caf::atom_constant<caf::atom("restart")>;
using stop_kill_atom = caf::atom_constant<caf::atom("stopkill")>;
using check_atom = caf::atom_constant<caf::atom("hbcheck")>;
using telemetry::log;

int64_t ms_count(caf::timespan d) { return std::chrono::duration_cast<milliseconds>(d).count(); }

std::string child_path(supervisor_pointer self, const child_state& c) {
  return self->state.spec.path + "/" + c.spec.id;
}

std::string describe(supervisor_pointer self, const caf::error& reason) {
  if (reason == caf::exit_reason::normal)
    return "normal";
  if (reason == caf::exit_reason::kill)
    return "killed";
  if (reason == caf::exit_reason::user_shutdown)
    return "shutdown";
  return self->system().render(reason);
}

bool start_child(supervisor_pointer self, size_t i, std::string& error);
void forget_child(supervisor_pointer self, child_state& c);
void handle_failure(supervisor_pointer self, size_t i, const std::string& reason, bool abnormal);

// -- orderly stop -------------------------------------------------------------

void continue_stop(supervisor_pointer self) {
  auto& st = self->state;
  while (!st.stop_queue.empty()) {
    auto& c = st.children[st.stop_queue.front()];
    if (c.status != child_status::running) {
      st.stop_queue.pop_front();
      continue;
    }
    if (!c.stopping) {
      c.stopping = true;
      self->send_exit(c.handle, caf::exit_reason::user_shutdown);
      self->delayed_send(self, c.spec.shutdown_timeout, stop_kill_atom::value,
                         static_cast<uint64_t>(st.stop_queue.front()), c.epoch);
    }
    return; // wait for its exit message
  }
  if (auto next = std::move(st.after_stop)) {
    st.after_stop = nullptr;
    next();
  }
}

/// Stops `order` one at a time (each waits for the previous to exit), then
/// runs `then`.
void stop_children(supervisor_pointer self, std::vector<size_t> order, std::function<void()> then) {
  auto& st = self->state;
  st.stop_queue.assign(order.begin(), order.end());
  st.after_stop = std::move(then);
  continue_stop(self);
}

std::vector<size_t> reverse_range(size_t from, size_t to) {
  std::vector<size_t> out;
  for (size_t i = to; i > from; --i)
    out.push_back(i - 1);
  return out;
}

void terminate(supervisor_pointer self, caf::error reason) {
  auto& st = self->state;
  if (st.terminating)
    return;
  st.terminating = true;
  for (auto& c : st.children)
    if (c.status == child_status::restarting)
      c.status = child_status::stopped;
  stop_children(self, reverse_range(0, st.children.size()),
                [self, reason = std::move(reason)]() mutable { self->quit(std::move(reason)); });
}

void escalate(supervisor_pointer self, const std::string& why) {
  auto& st = self->state;
  log(spdlog::level::err, "supervisor_escalation", "restart intensity exceeded; stopping children and failing",
      {{"supervisor", st.spec.path},
       {"reason", why},
       {"max_restarts", st.spec.max_restarts},
       {"period_ms", static_cast<int64_t>(st.spec.period.count())}});
  terminate(self, caf::make_error(caf::sec::runtime_error, "supervisor " + st.spec.path +
                                                               " gave up: " + why));
}

// -- restarts -----------------------------------------------------------------

/// Records a restart; false when that exceeds the intensity limit.
bool within_intensity(supervisor_pointer self) {
  auto& st = self->state;
  auto now = self->clock().now();
  st.recent_restarts.push_back(now);
  while (!st.recent_restarts.empty() && now - st.recent_restarts.front() > st.spec.period)
    st.recent_restarts.pop_front();
  return static_cast<int>(st.recent_restarts.size()) <= st.spec.max_restarts;
}

void schedule_restart(supervisor_pointer self, const std::vector<size_t>& group, milliseconds delay) {
  auto& st = self->state;
  for (auto i : group) {
    auto& c = st.children[i];
    if (c.spec.restart == restart_type::temporary && c.status != child_status::running)
      continue;
    c.status = child_status::restarting;
    c.last_restart_at = self->clock().now() + delay;
  }
  self->delayed_send(self, delay, restart_atom::value);
}

/// Starts, in order, every child whose restart is due.
void run_due_restarts(supervisor_pointer self) {
  auto& st = self->state;
  if (st.terminating)
    return;
  auto now = self->clock().now();
  for (size_t i = 0; i < st.children.size(); ++i) {
    auto& c = st.children[i];
    if (c.status != child_status::restarting || !c.last_restart_at || *c.last_restart_at > now)
      continue;
    ++c.restarts;
    std::string error;
    if (start_child(self, i, error)) {
      log(spdlog::level::info, "actor_restarted", "supervised actor restarted",
          {{"actor", child_path(self, c)}, {"restarts", c.restarts}, {"reason", c.last_reason}});
    } else {
      handle_failure(self, i, "start failed: " + error, true);
    }
  }
}

void handle_failure(supervisor_pointer self, size_t i, const std::string& reason, bool abnormal) {
  auto& st = self->state;
  auto& c = st.children[i];
  c.status = child_status::stopped;
  forget_child(self, c);
  c.last_reason = reason;
  ++c.epoch;
  log(abnormal ? spdlog::level::warn : spdlog::level::info, "actor_exited", "supervised actor exited",
      {{"actor", child_path(self, c)}, {"reason", reason}, {"restart", to_string(c.spec.restart)}});
  if (st.terminating)
    return;
  bool restart = c.spec.restart == restart_type::permanent ||
                 (c.spec.restart == restart_type::transient && abnormal);
  if (!restart)
    return;
  if (!st.stop_queue.empty())
    return; // a group stop is under way; its continuation restarts the group
  if (!within_intensity(self))
    return escalate(self, std::to_string(st.recent_restarts.size()) + " restarts within " +
                            std::to_string(st.spec.period.count()) + " ms, last: " + child_path(self, c) + " " +
                            reason);
  auto ran = self->clock().now() - c.started_at;
  c.consecutive_failures = ran >= st.spec.backoff.reset_after ? 1 : c.consecutive_failures + 1;
  std::uniform_real_distribution<double> unit{0.0, 1.0};
  auto delay = st.spec.backoff.delay(c.consecutive_failures, unit(st.rng));
  switch (st.spec.strategy) {
    case restart_strategy::one_for_one:
      return schedule_restart(self, {i}, delay);
    case restart_strategy::one_for_all: {
      std::vector<size_t> all(st.children.size());
      for (size_t k = 0; k < all.size(); ++k)
        all[k] = k;
      return stop_children(self, reverse_range(0, st.children.size()),
                           [self, all, delay] { schedule_restart(self, all, delay); });
    }
    case restart_strategy::rest_for_one: {
      std::vector<size_t> rest;
      for (size_t k = i; k < st.children.size(); ++k)
        rest.push_back(k);
      return stop_children(self, reverse_range(i + 1, st.children.size()),
                           [self, rest, delay] { schedule_restart(self, rest, delay); });
    }
  }
}

bool start_child(supervisor_pointer self, size_t i, std::string& error) {
  auto& c = self->state.children[i];
  supervised_context ctx;
  ctx.supervisor = caf::actor_cast<caf::actor>(self);
  ctx.heartbeat_interval = c.spec.heartbeat_ttl / 3;
  try {
    c.handle = c.spec.start(self, ctx);
  } catch (const std::exception& e) {
    error = e.what();
    return false;
  }
  if (!c.handle) {
    error = "start function returned no actor";
    return false;
  }
  self->link_to(c.handle); // if this supervisor dies, so do its children
  self->monitor(c.handle);
  auto now = self->clock().now();
  c.status = child_status::running;
  c.started_at = now;
  c.last_heartbeat = now; // the TTL counts from the start
  c.stopping = false;
  c.kill_reason.clear();
  ++c.epoch;
  return true;
}

// -- events -------------------------------------------------------------------

std::optional<size_t> child_index(supervisor_pointer self, const caf::actor_addr& who) {
  auto& cs = self->state.children;
  for (size_t i = 0; i < cs.size(); ++i)
    if (cs[i].handle && cs[i].handle.address() == who)
      return i;
  return std::nullopt;
}

// Exit messages: a child's link exit is ignored (its down message, which CAF
// always delivers, is handled instead); anyone else sending an exit (the
// parent, the application) asks this supervisor to stop in order.
void on_exit(supervisor_pointer self, caf::exit_msg& msg) {
  auto& former = self->state.former_children;
  if (child_index(self, msg.source) || std::find(former.begin(), former.end(), msg.source) != former.end())
    return;
  terminate(self, msg.reason);
}

void forget_child(supervisor_pointer self, child_state& c) {
  auto& former = self->state.former_children;
  if (c.handle)
    former.push_back(c.handle.address());
  while (former.size() > 64)
    former.pop_front();
  c.handle = nullptr;
}

// A child ended. Monitors, not links, tell the supervisor: a child that
// receives an exit message from its supervisor drops the link before it
// terminates, so only the monitor reports every termination.
void on_down(supervisor_pointer self, caf::down_msg& msg) {
  auto i = child_index(self, msg.source);
  if (!i)
    return;
  auto& st = self->state;
  auto& c = st.children[*i];
  if (c.stopping) {
    c.stopping = false;
    c.status = child_status::stopped;
    forget_child(self, c);
    ++c.epoch;
    st.stop_queue.erase(std::remove(st.stop_queue.begin(), st.stop_queue.end(), *i), st.stop_queue.end());
    return continue_stop(self);
  }
  bool abnormal = msg.reason != caf::exit_reason::normal;
  auto reason = c.kill_reason.empty() ? describe(self, msg.reason) : c.kill_reason;
  handle_failure(self, *i, reason, abnormal);
  if (!st.stop_queue.empty())
    continue_stop(self);
}

void check_heartbeats(supervisor_pointer self) {
  auto& st = self->state;
  auto now = self->clock().now();
  milliseconds shortest{0};
  for (auto& c : st.children) {
    auto ttl = c.spec.heartbeat_ttl;
    if (ttl.count() <= 0)
      continue;
    shortest = shortest.count() == 0 ? ttl : std::min(shortest, ttl);
    if (c.status != child_status::running || c.stopping || !c.kill_reason.empty())
      continue;
    auto silent = now - c.last_heartbeat;
    if (silent > ttl) {
      c.kill_reason = "heartbeat timeout: silent for " + std::to_string(ms_count(silent)) + " ms (ttl " +
                      std::to_string(ttl.count()) + " ms)";
      self->send_exit(c.handle, caf::exit_reason::kill);
    }
  }
  if (shortest.count() > 0)
    self->delayed_send(self, std::max(milliseconds{10}, shortest / 2), check_atom::value);
}

} // namespace

milliseconds backoff_policy::delay(int failures, double random01) const {
  double base = static_cast<double>(min.count()) * std::pow(2.0, std::max(0, failures - 1));
  base = std::min(base, static_cast<double>(max.count()));
  return milliseconds{static_cast<int64_t>(std::llround(base * (1.0 + jitter * random01)))};
}

const char* to_string(restart_type t) {
  switch (t) {
    case restart_type::permanent:
      return "permanent";
    case restart_type::transient:
      return "transient";
    case restart_type::temporary:
      return "temporary";
  }
  return "?";
}

const char* to_string(restart_strategy s) {
  switch (s) {
    case restart_strategy::one_for_one:
      return "one_for_one";
    case restart_strategy::one_for_all:
      return "one_for_all";
    case restart_strategy::rest_for_one:
      return "rest_for_one";
  }
  return "?";
}

const char* to_string(child_status s) {
  switch (s) {
    case child_status::running:
      return "running";
    case child_status::restarting:
      return "restarting";
    case child_status::stopped:
      return "stopped";
  }
  return "?";
}

child_spec supervisor_child(supervisor_spec spec, restart_type restart) {
  child_spec c;
  c.id = spec.path.substr(spec.path.rfind('/') + 1);
  c.restart = restart;
  // A supervisor stops its own children in order first; give it their time.
  c.shutdown_timeout = milliseconds{1000};
  for (auto& child : spec.children)
    c.shutdown_timeout += child.shutdown_timeout;
  c.start = [spec = std::move(spec)](caf::local_actor* parent, const supervised_context& ctx) {
    return parent->spawn(supervisor, spec, ctx);
  };
  return c;
}

caf::behavior supervisor(supervisor_pointer self, supervisor_spec spec, supervised_context ctx) {
  auto& st = self->state;
  st.spec = std::move(spec);
  st.ctx = std::move(ctx);
  for (auto& c : st.spec.children) {
    child_state child;
    child.spec = c;
    st.children.push_back(std::move(child));
  }
  self->set_exit_handler([self](caf::exit_msg& msg) { on_exit(self, msg); });
  self->set_down_handler([self](caf::down_msg& msg) { on_down(self, msg); });

  for (size_t i = 0; i < st.children.size(); ++i) {
    std::string error;
    if (!start_child(self, i, error)) {
      log(spdlog::level::err, "supervisor_start_failed", "a child failed to start",
          {{"actor", child_path(self, st.children[i])}, {"error", error}});
      terminate(self, caf::make_error(caf::sec::runtime_error,
                                      "child " + child_path(self, st.children[i]) + " failed to start: " + error));
      break;
    }
  }
  check_heartbeats(self);
  beat(self, st.ctx);
  return {
    [self](heartbeat_atom, const caf::actor_addr& who) {
      if (auto i = child_index(self, who))
        self->state.children[*i].last_heartbeat = self->clock().now();
    },
    [self](beat_atom) { beat(self, self->state.ctx); },
    [self](restart_atom) { run_due_restarts(self); },
    [self](check_atom) { check_heartbeats(self); },
    [self](stop_kill_atom, uint64_t i, uint64_t epoch) {
      auto& cs = self->state.children;
      if (i >= cs.size() || cs[i].epoch != epoch || !cs[i].stopping)
        return;
      log(spdlog::level::warn, "actor_stop_timeout", "child did not stop in time; killing it",
          {{"actor", child_path(self, cs[i])},
           {"timeout_ms", static_cast<int64_t>(cs[i].spec.shutdown_timeout.count())}});
      self->send_exit(cs[i].handle, caf::exit_reason::kill);
    },
  };
}

} // namespace clean::supervision
