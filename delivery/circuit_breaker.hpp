#pragma once

// A circuit breaker in the resilience4j mould, owned by the actor that
// calls a provider (email, SMS, Stripe processing): plain state, no
// threads, time passed in, so actors and tests drive it deterministically.
//
//   closed --(failure rate over the window, after minimum_calls)--> open
//   open --(open_for elapsed, at the next call)--> half_open
//   half_open --(trial calls all succeeded)--> closed
//   half_open --(a trial failed)--> open
//   half_open --(half_open_max elapsed)--> closed if the trials seen all
//       succeeded, else open: a sparse trickle never leaves it undecided.
// On-call may force it open or closed; it stays so until reset.

#include "config/settings.hpp"
#include "persistence/records.hpp"

#include <nlohmann/json_fwd.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace clean {

enum class breaker_state { closed, open, half_open, forced_open, forced_closed };

/// "closed", "open", "half_open", "forced_open", "forced_closed".
const char* to_string(breaker_state s);

/// The `circuit_state` gauge value: 0 closed, 1 open, 2 half-open (forced
/// states report what they force).
int gauge_value(breaker_state s);

class circuit_breaker {
public:
  using time_point = std::chrono::steady_clock::time_point;
  /// Called on every change of state with (from, to, why).
  using listener = std::function<void(breaker_state, breaker_state, const std::string&)>;

  circuit_breaker(std::string name, config::breaker_settings settings);

  /// May a call go out now? Half-open hands out its trial calls here.
  bool try_acquire(time_point now);
  void on_success(time_point now);
  void on_failure(time_point now);

  void force_open(time_point now, const std::string& why);
  void force_closed(time_point now, const std::string& why);
  /// Back to closed with an empty window (also ends a forced state).
  void reset(time_point now, const std::string& why);

  /// On-call's admin action: "force-open", "force-closed", anything else resets.
  void apply(const std::string& action, const std::string& actor, time_point now);

  /// Follows the override stored for this breaker (set on any instance):
  /// forced states follow the database; a cleared override ends a forced one.
  void follow(const std::vector<persistence::circuit_override>& overrides, time_point now);

  /// The state as of `now` (an open breaker whose time is up reads half-open).
  breaker_state state(time_point now);
  /// While open: how long until trial calls are let through.
  std::chrono::milliseconds retry_after(time_point now);

  const std::string& name() const { return name_; }
  void on_transition(listener l) { listener_ = std::move(l); }

  /// State, window counts, failure rate, settings and the last transition.
  nlohmann::json snapshot(time_point now);

private:
  void move_to(breaker_state to, time_point now, const std::string& why);
  void record(bool failed, time_point now);
  void decide_half_open(time_point now, const std::string& why);
  int failures_in_window() const;

  std::string name_;
  config::breaker_settings cfg_;
  breaker_state state_ = breaker_state::closed;
  std::deque<bool> window_; // true = failed, newest at the back
  time_point changed_at_{};
  int trials_started_ = 0;
  int trials_succeeded_ = 0;
  int64_t last_change_unix_ms_ = 0;
  std::string last_reason_ = "start";
  breaker_state last_from_ = breaker_state::closed;
  listener listener_;
};

/// The latest snapshot of each breaker, published by the actor owning it
/// after every call, change and tick. The admin API reads it here instead
/// of asking the actor, which may be blocked in a call to a stalled
/// provider exactly when on-call wants to look.
class circuit_board {
public:
  void publish(const std::string& name, std::string snapshot_json);
  /// Snapshots (JSON objects) by breaker name.
  std::vector<std::string> snapshots() const;
  bool has(const std::string& name) const;

  /// The overrides on-call stored, as last sampled from the database.
  void set_overrides(std::vector<persistence::circuit_override> all);
  std::vector<persistence::circuit_override> overrides() const;

private:
  mutable std::mutex mutex_;
  std::map<std::string, std::string> by_name_;
  std::vector<persistence::circuit_override> overrides_;
};

} // namespace clean
