#pragma once

// OTP-style supervisors on CAF 0.17: child specs, restart types, strategies,
// restart intensity with escalation, restart backoff, heartbeat TTLs and
// ordered start/stop. CAF supplies links and exit messages; everything else
// is here.

#include "actors/interfaces.hpp"
#include "actors/supervised.hpp"
#include "supervision/observer.hpp"

#include <caf/actor.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include <chrono>
#include <deque>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace clean::supervision {

using std::chrono::milliseconds;

/// When a child that stopped is started again (Erlang's restart types).
enum class restart_type {
  permanent, // always
  transient, // only after an abnormal exit
  temporary  // never
};

/// Which children restart together when one fails.
enum class restart_strategy {
  one_for_one, // only the failed child
  one_for_all, // every child (the others are stopped first, in reverse order)
  rest_for_one // the failed child and those started after it
};

const char* to_string(restart_type t);
const char* to_string(restart_strategy s);

/// Delay before a restart: min * 2^(failures-1), capped at max, plus up to
/// `jitter` of itself at random, so a child crashing on a dead dependency
/// does not spin and a fleet does not retry in lockstep (Akka's backoff).
struct backoff_policy {
  milliseconds min{100};
  milliseconds max{10000};
  double jitter = 0.2;
  /// A child that ran this long since its last start counts as healthy:
  /// its next failure starts the backoff from `min` again.
  milliseconds reset_after{30000};

  milliseconds delay(int consecutive_failures, double random01) const;
};

/// Starts a child (spawn it as the supervisor's child; do not link: the
/// supervisor links). Throwing fails the start.
using start_function = std::function<caf::actor(caf::local_actor* parent, const supervised_context& ctx)>;

struct child_spec {
  std::string id;
  start_function start;
  restart_type restart = restart_type::permanent;
  /// How long an orderly stop may take before the child is killed.
  milliseconds shutdown_timeout{5000};
  /// A child silent for longer than this is treated as hung: killed and
  /// restarted like a crash. 0 = the child does not heartbeat.
  milliseconds heartbeat_ttl{0};
  /// How often the child beats (0 = a third of the TTL).
  milliseconds heartbeat_interval{0};
  /// Requests waiting in its mailbox beyond this are refused (0 = unbounded).
  size_t mailbox_limit = 0;
  /// Set for children that are supervisors themselves (see supervisor_child).
  bool is_supervisor = false;
};

struct supervisor_spec {
  /// Tree path, e.g. "root/db"; children are "root/db/<id>".
  std::string path;
  restart_strategy strategy = restart_strategy::one_for_one;
  /// More than `max_restarts` restarts within `period` and the supervisor
  /// gives up: stops its children and fails, so its parent decides.
  int max_restarts = 5;
  milliseconds period{30000};
  backoff_policy backoff;
  /// Whether a permanent child of this subtree being down makes the instance
  /// unready (/readyz). False for subtrees around outside providers.
  bool critical = true;
  std::vector<child_spec> children;
  /// Receives restart/escalation events and provides per-actor counters.
  std::shared_ptr<tree_observer> observer;
};

/// A supervisor as a child of another supervisor.
child_spec supervisor_child(supervisor_spec spec, restart_type restart = restart_type::permanent);

enum class child_status { running, restarting, stopped };
const char* to_string(child_status s);

struct child_state {
  child_spec spec;
  caf::actor handle;
  child_status status = child_status::stopped;
  int restarts = 0;
  int consecutive_failures = 0;
  caf::actor_clock::time_point started_at{};
  caf::actor_clock::time_point last_heartbeat{};
  std::optional<caf::actor_clock::time_point> last_restart_at;
  std::string last_reason;
  std::string last_restart_wall; // RFC 3339, for people
  std::string last_reason_class; // bounded, for metrics
  std::shared_ptr<actor_stats> stats;
  /// Set when the supervisor itself ends the child: its exit is expected
  /// (orderly stop) or has a known cause (heartbeat timeout).
  bool stopping = false;
  std::string kill_reason;
  /// Bumped on every start/stop, so stale delayed messages are ignored.
  uint64_t epoch = 0;
};

struct supervisor_state {
  static inline const char* name = "supervisor";
  // Declared so the struct is no aggregate: CAF 0.17 constructs state as
  // State(self) when that compiles, and C++20 paren-init of aggregates
  // would feed the actor pointer into the first member.
  supervisor_state() = default;
  supervisor_spec spec;
  supervised_context ctx; // this supervisor's own parent
  std::vector<child_state> children;
  std::deque<caf::actor_clock::time_point> recent_restarts;
  /// Orderly stop in progress: indices still to stop (front first), and
  /// what to do when they are all down.
  std::deque<size_t> stop_queue;
  std::function<void()> after_stop;
  bool terminating = false;
  /// Children that ended recently: their link exit message may arrive after
  /// their down message and must not be mistaken for a stop request.
  std::deque<caf::actor_addr> former_children;
  std::mt19937 rng{std::random_device{}()};
};

using supervisor_pointer = caf::stateful_actor<supervisor_state, instrumented<caf::event_based_actor>>*;

/// Requests understood by every supervisor (besides heartbeats):
///  * `tree_atom` -> JSON of this supervisor's subtree (see docs/ARCHITECTURE.md);
///  * `fault_atom, path, "crash"|"hang"` -> JSON acknowledgement, for drills.
/// (tree_atom and fault_atom live in actors/interfaces.hpp.)

/// The supervisor's behavior. Spawn it linked to (or monitored by) whoever
/// must learn about its failure; `ctx` says where its own heartbeats go.
caf::behavior supervisor(supervisor_pointer self, supervisor_spec spec, supervised_context ctx);

} // namespace clean::supervision
