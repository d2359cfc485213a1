#pragma once

// The database pool: one supervised actor that owns the bookkeeping of
// DATABASE_POOL_SIZE steady connections plus up to DATABASE_MAX_OVERFLOW
// extra ones under load. Each connection is its own `detached` actor
// (db_connection.hpp), so blocking libpq calls never run on a scheduler
// thread; the pool only hands out work and collects answers.
//
//   caller --db_call--> pool --db_task--> connection (own thread)
//   caller <--answer--- pool <--db_done-- connection
//
// Answers travel through the pool (not straight to the caller) so the pool
// can retry a call once when its connection broke before it ran, and can
// answer the caller itself when a deadline passes or a connection dies.

#include "actors/interfaces.hpp"

#include <caf/event_based_actor.hpp>
#include <caf/response_promise.hpp>

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <vector>

namespace clean::telemetry {
struct db_metrics;
}

namespace clean {

using reconnect_atom = caf::atom_constant<caf::atom("reconnect")>;
using connect_atom = caf::atom_constant<caf::atom("connect")>;
/// canceller -> pool: (cancelled_atom, slot, seq) the cancel request reached the server.
using cancelled_atom = caf::atom_constant<caf::atom("cancelled")>;

/// pool -> connection: run `call` (the connection answers with db_done).
struct db_task {
  uint64_t seq = 0;
  db_call call;
};

/// connection -> pool: connected; `cancel` asks the server to cancel the
/// statement running on it (blocking; the pool runs it off its thread).
struct db_connected {
  uint64_t slot = 0;
  std::function<void()> cancel;
};

/// connection -> pool: could not connect (the worker has stopped).
struct db_connect_failed {
  uint64_t slot = 0;
  std::string error;
};

/// connection -> pool: the outcome of a db_task.
struct db_done {
  uint64_t slot = 0;
  uint64_t seq = 0;
  caf::message result;
  caf::error error;
  /// The connection is unusable; its worker has stopped.
  bool broken = false;
  /// The failure happened before anything could have been committed, so
  /// running the call again on another connection is safe.
  bool retry_safe = false;
};

/// Starts the worker for `slot`; it reports db_connected or
/// db_connect_failed to `pool`, then serves db_task messages.
using db_connection_factory = std::function<caf::actor(caf::local_actor* pool, uint64_t slot)>;

struct db_pool_config {
  int size = 8;
  int max_overflow = 4;
  /// Longest wait for a free connection (DATABASE_POOL_TIMEOUT_SECONDS).
  std::chrono::milliseconds wait_timeout{5000};
  /// An overflow connection idle this long is closed.
  std::chrono::milliseconds overflow_idle{30000};
  /// How often deadlines, wait timeouts and idle connections are checked.
  std::chrono::milliseconds sweep_interval{100};
  /// Reconnect backoff after failed connection attempts (doubling).
  std::chrono::milliseconds reconnect_min{100};
  std::chrono::milliseconds reconnect_max{5000};
  db_connection_factory start_connection;
  /// Runs `cancel` (blocking: PQcancel opens a connection to the server),
  /// then `landed`. Empty: on a detached actor of its own. Tests run both
  /// on their own schedule.
  std::function<void(std::function<void()> cancel, std::function<void()> landed)> run_cancel;
  const telemetry::db_metrics* metrics = nullptr; // may be null (tests)
};

enum class db_slot_phase { connecting, idle, busy };

struct db_slot {
  caf::actor conn;
  bool overflow = false;
  db_slot_phase phase = db_slot_phase::connecting;
  caf::actor_clock::time_point since;
  std::function<void()> cancel;
  // The call in flight (phase == busy).
  uint64_t seq = 0;
  std::optional<caf::response_promise> promise; // reset once answered
  db_call call;
  int attempts = 0;
  caf::actor_clock::time_point started;
  bool cancel_requested = false;
  /// A cancel request is on its way to the server. Until it has arrived
  /// the connection is not handed out again: a late cancel would otherwise
  /// kill the next caller's statement.
  bool cancel_in_flight = false;
  /// The call finished while its cancel was in flight: idle once it lands.
  bool finished = false;
  /// When the last cancel request reached the server.
  caf::actor_clock::time_point cancel_landed;
};

struct db_waiter {
  caf::response_promise promise;
  db_call call;
  caf::actor_clock::time_point enqueued;
  int attempts = 0;
};

struct db_pool_state {
  static inline const char* name = "db-pool";
  db_pool_config config;
  supervised_context supervision;
  std::map<uint64_t, db_slot> slots;
  std::vector<uint64_t> idle; // LIFO: keeps few connections warm, lets overflow ones idle out
  std::deque<db_waiter> waiters;
  uint64_t next_slot = 1;
  int connect_failures = 0;
  std::string last_connect_error;
  /// No connection is open and the last attempt failed: refuse at once.
  bool down = false;
  bool reconnect_pending = false;
  uint64_t timeouts_unlogged = 0;
  db_pool_state();
  ~db_pool_state();
};

using db_pool_pointer = caf::stateful_actor<db_pool_state, instrumented<caf::event_based_actor>>*;

caf::behavior db_pool(db_pool_pointer self, db_pool_config config, supervised_context ctx);

} // namespace clean

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(clean::db_task)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(clean::db_connected)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(clean::db_connect_failed)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(clean::db_done)
