#include "supervision/supervisor.hpp"

#include "telemetry/logging.hpp"

#include <caf/actor_cast.hpp>
#include <caf/exit_reason.hpp>
#include <caf/sec.hpp>

#include <nlohmann/json.hpp>

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace clean::supervision {

namespace {

using restart_atom = caf::atom_constant<caf::atom("restart")>;
using stop_kill_atom = caf::atom_constant<caf::atom("stopkill")>;
using check_atom = caf::atom_constant<caf::atom("hbcheck")>;
using telemetry::log;

int64_t ms_count(caf::timespan d) {
  return std::chrono::duration_cast<milliseconds>(d).count();
}

int64_t unix_ms() {
  return std::chrono::duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string wall_clock_now() {
  auto now = std::chrono::system_clock::now();
  return fmt::format("{:%Y-%m-%dT%H:%M:%S}Z", fmt::gmtime(std::chrono::system_clock::to_time_t(now)));
}

/// Bounded label for actor_restarts_total{reason}.
std::string reason_class(const child_state& c, bool abnormal) {
  const auto& r = c.last_reason;
  if (r.starts_with("heartbeat timeout"))
    return "heartbeat_timeout";
  if (r.starts_with("start failed"))
    return "start_failed";
  if (r.find("injected crash") != std::string::npos)
    return "injected";
  if (c.spec.is_supervisor && r.find("gave up") != std::string::npos)
    return "escalation";
  return abnormal ? "crash" : "exit";
}

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
  if (st.spec.observer)
    st.spec.observer->escalated(st.spec.path);
  log(spdlog::level::err, "supervisor_escalation",
      "restart intensity exceeded; stopping children and failing",
      {{"supervisor", st.spec.path},
       {"reason", why},
       {"max_restarts", st.spec.max_restarts},
       {"period_ms", static_cast<int64_t>(st.spec.period.count())}});
  terminate(self,
            caf::make_error(caf::sec::runtime_error, "supervisor " + st.spec.path + " gave up: " + why));
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
      c.last_restart_wall = wall_clock_now();
      if (st.spec.observer)
        st.spec.observer->restarted(child_path(self, c), c.last_reason_class);
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
  c.last_reason_class = reason_class(c, abnormal);
  ++c.epoch;
  log(abnormal ? spdlog::level::warn : spdlog::level::info, "actor_exited", "supervised actor exited",
      {{"actor", child_path(self, c)}, {"reason", reason}, {"restart", to_string(c.spec.restart)}});
  if (st.terminating)
    return;
  bool restart =
      c.spec.restart == restart_type::permanent || (c.spec.restart == restart_type::transient && abnormal);
  if (!restart)
    return;
  if (!st.stop_queue.empty())
    return; // a group stop is under way; its continuation restarts the group
  if (!within_intensity(self))
    return escalate(self, std::to_string(st.recent_restarts.size()) + " restarts within " +
                              std::to_string(st.spec.period.count()) + " ms, last: " + child_path(self, c) +
                              " " + reason);
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
  ctx.heartbeat_interval =
      c.spec.heartbeat_interval.count() > 0 ? c.spec.heartbeat_interval : c.spec.heartbeat_ttl / 3;
  ctx.stats = c.stats;
  c.stats->hung = false;
  c.stats->reset_mailbox(); // a new instance starts with an empty mailbox
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

// -- observation and drills ---------------------------------------------------

/// The fields a supervisor knows about one of its children.
nlohmann::ordered_json child_fields(supervisor_pointer self, const child_state& c) {
  nlohmann::ordered_json j;
  j["path"] = child_path(self, c);
  j["kind"] = c.spec.is_supervisor ? "supervisor" : "worker";
  j["state"] = to_string(c.status);
  j["restart"] = to_string(c.spec.restart);
  j["critical"] = self->state.spec.critical;
  j["restarts"] = c.restarts;
  j["last_restart_at"] = c.last_restart_wall.empty() ? nlohmann::ordered_json(nullptr)
                                                     : nlohmann::ordered_json(c.last_restart_wall);
  j["last_reason"] =
      c.last_reason.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(c.last_reason);
  j["heartbeat_ttl_ms"] = c.spec.heartbeat_ttl.count();
  auto last = c.stats->last_heartbeat_ms.load();
  if (c.spec.heartbeat_ttl.count() > 0 && last > 0 && c.status == child_status::running)
    j["last_heartbeat_age_ms"] = std::max<int64_t>(0, unix_ms() - last);
  else
    j["last_heartbeat_age_ms"] = nullptr;
  j["mailbox_size"] = c.stats->mailbox();
  j["mailbox_limit"] = c.stats->mailbox_limit;
  j["messages_handled"] = c.stats->handled.load();
  j["messages_shed"] = c.stats->shed.load();
  return j;
}

/// This supervisor's subtree as JSON. Child supervisors are asked in turn;
/// one that does not answer within a second is listed with an error.
caf::result<std::string> describe_tree(supervisor_pointer self) {
  auto& st = self->state;
  struct gather {
    nlohmann::ordered_json node;
    size_t pending = 0;
  };
  auto acc = std::make_shared<gather>();
  acc->node["path"] = st.spec.path;
  acc->node["kind"] = "supervisor";
  acc->node["strategy"] = to_string(st.spec.strategy);
  acc->node["max_restarts"] = st.spec.max_restarts;
  acc->node["period_ms"] = st.spec.period.count();
  acc->node["critical"] = st.spec.critical;
  acc->node["children"] = nlohmann::ordered_json::array();
  auto rp = self->make_response_promise<std::string>();
  auto finish = [acc, rp]() mutable {
    if (--acc->pending == 0)
      rp.deliver(acc->node.dump());
  };
  acc->pending = 1; // released below, after every request went out
  for (auto& c : st.children) {
    auto& slot = acc->node["children"].emplace_back(child_fields(self, c));
    auto index = acc->node["children"].size() - 1;
    if (!c.spec.is_supervisor || c.status != child_status::running)
      continue;
    ++acc->pending;
    self->request(c.handle, std::chrono::seconds(1), tree_atom::value)
        .then(
            [acc, index, finish](std::string& subtree) mutable {
              auto& mine = acc->node["children"][index];
              auto theirs = nlohmann::ordered_json::parse(subtree, nullptr, false);
              if (theirs.is_object()) {
                mine["strategy"] = theirs["strategy"];
                mine["max_restarts"] = theirs["max_restarts"];
                mine["period_ms"] = theirs["period_ms"];
                mine["critical"] = theirs["critical"];
                mine["children"] = theirs["children"];
              }
              finish();
            },
            [acc, index, finish, self](caf::error& err) mutable {
              acc->node["children"][index]["error"] = "no answer: " + self->system().render(err);
              finish();
            });
    (void)slot;
  }
  finish();
  return rp;
}

/// Drills: makes the actor at `path` crash, or stop heartbeating ("hang").
caf::result<std::string> inject_fault(supervisor_pointer self, const std::string& path,
                                      const std::string& kind) {
  auto& st = self->state;
  if (kind != "crash" && kind != "hang")
    return caf::make_error(caf::sec::invalid_argument, "unknown fault '" + kind + "'");
  for (auto& c : st.children) {
    auto mine = child_path(self, c);
    if (path.starts_with(mine + "/") && c.spec.is_supervisor && c.status == child_status::running) {
      auto rp = self->make_response_promise<std::string>();
      self->request(c.handle, std::chrono::seconds(2), fault_atom::value, path, kind)
          .then([rp](std::string& ack) mutable { rp.deliver(ack); },
                [rp](caf::error& err) mutable { rp.deliver(err); });
      return rp;
    }
    if (path != mine)
      continue;
    if (c.status != child_status::running)
      return caf::make_error(caf::sec::invalid_argument,
                             path + " is " + to_string(c.status) + ", not running");
    log(spdlog::level::warn, "fault_injected", "fault injected by an operator",
        {{"actor", path}, {"fault", kind}});
    if (kind == "crash")
      self->send_exit(c.handle, caf::make_error(caf::sec::runtime_error, "injected crash"));
    else
      c.stats->hung = true;
    nlohmann::ordered_json ack{{"path", path}, {"fault", kind}, {"accepted", true}};
    return ack.dump();
  }
  return clean::make_error(errc::no_such_actor);
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
  c.is_supervisor = true;
  c.heartbeat_ttl = milliseconds{10000}; // a supervisor only ever waits on messages
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
  if (st.spec.observer)
    st.spec.observer->supervising(st.spec.path);
  for (auto& c : st.spec.children) {
    child_state child;
    child.spec = c;
    auto path = st.spec.path + "/" + c.id;
    child.stats = st.spec.observer ? st.spec.observer->stats_for(path) : std::make_shared<actor_stats>(path);
    child.stats->mailbox_limit = c.mailbox_limit;
    st.children.push_back(std::move(child));
  }
  self->set_exit_handler([self](caf::exit_msg& msg) { on_exit(self, msg); });
  self->set_down_handler([self](caf::down_msg& msg) { on_down(self, msg); });

  for (size_t i = 0; i < st.children.size(); ++i) {
    std::string error;
    if (!start_child(self, i, error)) {
      log(spdlog::level::err, "supervisor_start_failed", "a child failed to start",
          {{"actor", child_path(self, st.children[i])}, {"error", error}});
      terminate(self, caf::make_error(caf::sec::runtime_error, "child " + child_path(self, st.children[i]) +
                                                                   " failed to start: " + error));
      break;
    }
  }
  check_heartbeats(self);
  supervise(self, st.ctx);
  return {
      [self](tree_atom) -> caf::result<std::string> { return describe_tree(self); },
      [self](fault_atom, const std::string& path, const std::string& kind) -> caf::result<std::string> {
        return inject_fault(self, path, kind);
      },
      [self](heartbeat_atom, const caf::actor_addr& who) {
        if (auto i = child_index(self, who)) {
          auto& c = self->state.children[*i];
          c.last_heartbeat = self->clock().now();
          c.stats->last_heartbeat_ms = unix_ms();
        }
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
