#include "delivery/circuit_breaker.hpp"

#include "persistence/time.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>

namespace clean {

const char* to_string(breaker_state s) {
  switch (s) {
    case breaker_state::closed:
      return "closed";
    case breaker_state::open:
      return "open";
    case breaker_state::half_open:
      return "half_open";
    case breaker_state::forced_open:
      return "forced_open";
    case breaker_state::forced_closed:
      return "forced_closed";
  }
  return "unknown";
}

int gauge_value(breaker_state s) {
  switch (s) {
    case breaker_state::open:
    case breaker_state::forced_open:
      return 1;
    case breaker_state::half_open:
      return 2;
    default:
      return 0;
  }
}

circuit_breaker::circuit_breaker(std::string name, config::breaker_settings settings) :
    name_(std::move(name)), cfg_(settings) {
  last_change_unix_ms_ = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
}

bool circuit_breaker::try_acquire(time_point now) {
  switch (state(now)) {
    case breaker_state::closed:
    case breaker_state::forced_closed:
      return true;
    case breaker_state::open:
    case breaker_state::forced_open:
      return false;
    case breaker_state::half_open:
      if (trials_started_ >= cfg_.half_open_calls)
        return false;
      ++trials_started_;
      return true;
  }
  return false;
}

void circuit_breaker::on_success(time_point now) {
  switch (state_) {
    case breaker_state::closed:
    case breaker_state::forced_closed:
    case breaker_state::forced_open:
      record(false, now);
      return;
    case breaker_state::half_open:
      if (++trials_succeeded_ >= cfg_.half_open_calls)
        move_to(breaker_state::closed, now, "every trial call succeeded");
      return;
    case breaker_state::open:
      return; // a late answer from before the opening
  }
}

void circuit_breaker::on_failure(time_point now) {
  switch (state_) {
    case breaker_state::closed:
    case breaker_state::forced_closed:
    case breaker_state::forced_open:
      record(true, now);
      return;
    case breaker_state::half_open:
      move_to(breaker_state::open, now, "a trial call failed");
      return;
    case breaker_state::open:
      return;
  }
}

void circuit_breaker::record(bool failed, time_point now) {
  window_.push_back(failed);
  while (window_.size() > static_cast<size_t>(cfg_.window))
    window_.pop_front();
  if (state_ != breaker_state::closed || !failed)
    return;
  auto calls = static_cast<int>(window_.size());
  if (calls < cfg_.minimum_calls)
    return;
  auto failures = failures_in_window();
  if (failures * 100 >= cfg_.failure_rate_percent * calls)
    move_to(breaker_state::open, now,
            std::to_string(failures) + " of the last " + std::to_string(calls) + " calls failed");
}

int circuit_breaker::failures_in_window() const {
  return static_cast<int>(std::count(window_.begin(), window_.end(), true));
}

void circuit_breaker::force_open(time_point now, const std::string& why) {
  move_to(breaker_state::forced_open, now, why);
}

void circuit_breaker::force_closed(time_point now, const std::string& why) {
  move_to(breaker_state::forced_closed, now, why);
}

void circuit_breaker::reset(time_point now, const std::string& why) {
  move_to(breaker_state::closed, now, why);
}

void circuit_breaker::apply(const std::string& action, const std::string& actor, time_point now) {
  auto why = action + " by " + actor;
  if (action == "force-open")
    force_open(now, why);
  else if (action == "force-closed")
    force_closed(now, why);
  else
    reset(now, why);
}

void circuit_breaker::follow(const std::vector<persistence::circuit_override>& overrides, time_point now) {
  const persistence::circuit_override* mine = nullptr;
  for (const auto& o : overrides)
    if (o.circuit == name_)
      mine = &o;
  auto current = state(now);
  bool forced = current == breaker_state::forced_open || current == breaker_state::forced_closed;
  if (!mine) {
    if (forced)
      reset(now, "override cleared");
    return;
  }
  auto why = "override by " + mine->set_by + (mine->reason.empty() ? "" : " (" + mine->reason + ")");
  if (mine->state == "forced_open" && current != breaker_state::forced_open)
    force_open(now, why);
  else if (mine->state == "forced_closed" && current != breaker_state::forced_closed)
    force_closed(now, why);
}

void circuit_breaker::decide_half_open(time_point now, const std::string& why) {
  // Any failed trial has already reopened it, so every finished trial
  // succeeded; a trial handed out but never answered counts against it.
  if (trials_succeeded_ > 0)
    move_to(breaker_state::closed, now, why + "; the trial calls seen succeeded");
  else
    move_to(breaker_state::open, now, why + " without a successful trial call");
}

breaker_state circuit_breaker::state(time_point now) {
  if (state_ == breaker_state::open && now - changed_at_ >= cfg_.open_for)
    move_to(breaker_state::half_open, now, "open time elapsed; letting trial calls through");
  // With no trial handed out there is nothing to decide: it waits for traffic.
  if (state_ == breaker_state::half_open && trials_started_ > 0 && now - changed_at_ >= cfg_.half_open_max)
    decide_half_open(now, "half-open time limit reached");
  return state_;
}

std::chrono::milliseconds circuit_breaker::retry_after(time_point now) {
  auto s = state(now);
  if (s == breaker_state::forced_open)
    return cfg_.open_for;
  if (s != breaker_state::open)
    return std::chrono::milliseconds{0};
  auto left = cfg_.open_for - std::chrono::duration_cast<std::chrono::milliseconds>(now - changed_at_);
  return std::max(left, std::chrono::milliseconds{0});
}

void circuit_breaker::move_to(breaker_state to, time_point now, const std::string& why) {
  auto from = state_;
  state_ = to;
  changed_at_ = now;
  trials_started_ = 0;
  trials_succeeded_ = 0;
  // Each state judges the calls made in it: old failures must not reopen a
  // breaker that has just closed.
  window_.clear();
  last_from_ = from;
  last_reason_ = why;
  last_change_unix_ms_ = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  if (listener_ && from != to)
    listener_(from, to, why);
}

nlohmann::json circuit_breaker::snapshot(time_point now) {
  auto s = state(now);
  auto calls = static_cast<int>(window_.size());
  auto failures = failures_in_window();
  return {{"name", name_},
          {"state", to_string(s)},
          {"gauge", gauge_value(s)},
          {"retry_after_seconds", static_cast<double>(retry_after(now).count()) / 1000.0},
          {"window",
           {{"calls", calls},
            {"failures", failures},
            {"failure_rate_percent", calls ? failures * 100.0 / calls : 0.0}}},
          {"half_open_trials", {{"started", trials_started_}, {"succeeded", trials_succeeded_}}},
          {"settings",
           {{"window", cfg_.window},
            {"minimum_calls", cfg_.minimum_calls},
            {"failure_rate_percent", cfg_.failure_rate_percent},
            {"open_seconds", static_cast<double>(cfg_.open_for.count()) / 1000.0},
            {"half_open_calls", cfg_.half_open_calls},
            {"half_open_max_seconds", static_cast<double>(cfg_.half_open_max.count()) / 1000.0}}},
          {"last_transition",
           {{"from", to_string(last_from_)},
            {"to", to_string(state_)},
            {"at", persistence::format_rfc3339(last_change_unix_ms_ * 1000)},
            {"reason", last_reason_}}}};
}

void circuit_board::publish(const std::string& name, std::string snapshot_json) {
  std::lock_guard<std::mutex> guard{mutex_};
  by_name_[name] = std::move(snapshot_json);
}

std::vector<std::string> circuit_board::snapshots() const {
  std::lock_guard<std::mutex> guard{mutex_};
  std::vector<std::string> out;
  for (const auto& [name, snap] : by_name_)
    out.push_back(snap);
  return out;
}

void circuit_board::set_overrides(std::vector<persistence::circuit_override> all) {
  std::lock_guard<std::mutex> guard{mutex_};
  overrides_ = std::move(all);
}

std::vector<persistence::circuit_override> circuit_board::overrides() const {
  std::lock_guard<std::mutex> guard{mutex_};
  return overrides_;
}

bool circuit_board::has(const std::string& name) const {
  std::lock_guard<std::mutex> guard{mutex_};
  return by_name_.count(name) > 0;
}

} // namespace clean
