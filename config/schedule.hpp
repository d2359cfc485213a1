#pragma once

// When a job runs: a fixed interval ("every 5m", "30s", "@hourly") or a
// five-field cron expression ("0 3 * * *", UTC). Slots are absolute times
// every instance computes alike (intervals are aligned to the Unix epoch),
// so several instances agree on which slot is due and one of them claims it.

#include <bitset>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace clean::config {

class schedule {
public:
  /// Parses `text`; nullopt with `error` set when it is not a schedule.
  static std::optional<schedule> parse(std::string_view text, std::string& error);

  /// The first slot strictly after `t` (Unix seconds, UTC).
  int64_t next_after(int64_t t) const;

  /// The longest gap between two consecutive slots, in seconds (for an
  /// interval: the interval). A job with no success for a few periods is
  /// overdue.
  int64_t period() const;

  const std::string& text() const { return text_; }

private:
  bool is_cron_ = false;
  int64_t every_ = 0; // seconds, for intervals
  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_;    // 1-31
  std::bitset<13> months_;  // 1-12
  std::bitset<7> weekdays_; // 0 = Sunday
  bool any_day_ = true;     // day-of-month field was '*'
  bool any_weekday_ = true; // day-of-week field was '*'
  std::string text_;

  bool day_matches(int mday, int wday) const;
};

} // namespace clean::config
