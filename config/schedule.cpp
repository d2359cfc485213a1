#include "config/schedule.hpp"

#include <algorithm>
#include <charconv>
#include <ctime>
#include <vector>

namespace clean::config {

namespace {

constexpr int64_t minute = 60;
constexpr int64_t day = 86400;

std::optional<int64_t> number(std::string_view s) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size() || s.empty())
    return std::nullopt;
  return v;
}

/// "30s", "5m", "2h", "1d" -> seconds.
std::optional<int64_t> duration(std::string_view s) {
  if (s.size() < 2)
    return std::nullopt;
  int64_t unit = 0;
  switch (s.back()) {
    case 's':
      unit = 1;
      break;
    case 'm':
      unit = minute;
      break;
    case 'h':
      unit = 3600;
      break;
    case 'd':
      unit = day;
      break;
    default:
      return std::nullopt;
  }
  auto n = number(s.substr(0, s.size() - 1));
  if (!n || *n <= 0 || *n > 366 * day / unit)
    return std::nullopt;
  return *n * unit;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  while (true) {
    auto pos = s.find(sep);
    out.push_back(s.substr(0, pos));
    if (pos == std::string_view::npos)
      return out;
    s.remove_prefix(pos + 1);
  }
}

/// One cron field: `*`, `*/n`, `a`, `a-b`, `a-b/n`, comma lists of those.
template <size_t N>
bool field(std::string_view text, int lo, int hi, std::bitset<N>& out, bool& star) {
  star = text == "*";
  for (auto part : split(text, ',')) {
    int64_t step = 1;
    if (auto slash = part.find('/'); slash != std::string_view::npos) {
      auto s = number(part.substr(slash + 1));
      if (!s || *s <= 0 || *s > hi)
        return false;
      step = *s;
      part = part.substr(0, slash);
    }
    int64_t from = lo, to = hi;
    if (part != "*") {
      auto dash = part.find('-');
      auto a = number(part.substr(0, dash));
      if (!a)
        return false;
      from = to = *a;
      if (dash != std::string_view::npos) {
        auto b = number(part.substr(dash + 1));
        if (!b)
          return false;
        to = *b;
      } else if (step != 1) {
        to = hi; // "5/15": from 5 every 15
      }
    }
    if (from < lo || to > hi || from > to)
      return false;
    for (auto v = from; v <= to; v += step)
      out.set(static_cast<size_t>(v));
  }
  return true;
}

int64_t days_from_civil(int64_t y, int m, int d) {
  // Howard Hinnant's algorithm: days since 1970-01-01 of a proleptic Gregorian date.
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

} // namespace

std::optional<schedule> schedule::parse(std::string_view text, std::string& error) {
  schedule s;
  s.text_ = std::string{text};
  auto trimmed = text;
  while (!trimmed.empty() && trimmed.front() == ' ')
    trimmed.remove_prefix(1);
  while (!trimmed.empty() && trimmed.back() == ' ')
    trimmed.remove_suffix(1);
  if (trimmed == "@hourly")
    trimmed = "0 * * * *";
  else if (trimmed == "@daily" || trimmed == "@midnight")
    trimmed = "0 0 * * *";
  else if (trimmed == "@weekly")
    trimmed = "0 0 * * 0";
  if (trimmed.starts_with("every "))
    trimmed.remove_prefix(6);
  else if (trimmed.starts_with("@every "))
    trimmed.remove_prefix(7);
  if (trimmed.find(' ') == std::string_view::npos) {
    auto every = duration(trimmed);
    if (!every) {
      error = "an interval such as 30s, 5m, 2h or 1d (optionally 'every 5m'), or a cron expression";
      return std::nullopt;
    }
    s.every_ = *every;
    return s;
  }
  std::vector<std::string_view> fields;
  for (auto f : split(trimmed, ' '))
    if (!f.empty())
      fields.push_back(f);
  if (fields.size() != 5) {
    error = "a cron expression has five fields: minute hour day-of-month month day-of-week (UTC)";
    return std::nullopt;
  }
  bool star = false;
  bool ok = field(fields[0], 0, 59, s.minutes_, star) && field(fields[1], 0, 23, s.hours_, star) &&
            field(fields[2], 1, 31, s.days_, s.any_day_) && field(fields[3], 1, 12, s.months_, star);
  std::bitset<8> weekdays;
  ok = ok && field(fields[4], 0, 7, weekdays, s.any_weekday_);
  if (!ok) {
    error = "a valid cron expression (fields: minute 0-59, hour 0-23, day 1-31, month 1-12, weekday 0-7; "
            "*, */n, a-b, a,b)";
    return std::nullopt;
  }
  for (size_t d = 0; d < 7; ++d)
    s.weekdays_[d] = weekdays[d];
  if (weekdays[7])
    s.weekdays_.set(0); // 7 is Sunday too
  s.is_cron_ = true;
  return s;
}

bool schedule::day_matches(int mday, int wday) const {
  // Classic cron: when both day fields are restricted, either may match.
  if (!any_day_ && !any_weekday_)
    return days_[static_cast<size_t>(mday)] || weekdays_[static_cast<size_t>(wday)];
  return days_[static_cast<size_t>(mday)] && weekdays_[static_cast<size_t>(wday)];
}

int64_t schedule::next_after(int64_t t) const {
  if (!is_cron_)
    return (t / every_ + 1) * every_;
  // Walk day by day (at most ~4 years covers any valid expression, e.g. Feb 29).
  int64_t start = (t / minute + 1) * minute;
  int64_t day_start = start - ((start % day) + day) % day;
  for (int i = 0; i < 366 * 5; ++i, day_start += day) {
    std::time_t tt = static_cast<std::time_t>(day_start);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    if (!months_[static_cast<size_t>(tm.tm_mon + 1)] || !day_matches(tm.tm_mday, tm.tm_wday))
      continue;
    for (int h = 0; h < 24; ++h) {
      if (!hours_[static_cast<size_t>(h)])
        continue;
      for (int m = 0; m < 60; ++m) {
        if (!minutes_[static_cast<size_t>(m)])
          continue;
        auto slot = day_start + h * 3600 + m * minute;
        if (slot >= start)
          return slot;
      }
    }
  }
  // Unreachable for expressions parse() accepts (e.g. "0 0 31 2 *" is the
  // exception: no Feb 31). Such a job simply never runs.
  return INT64_MAX;
}

int64_t schedule::period() const {
  if (!is_cron_)
    return every_;
  // The longest gap over a year of slots from a fixed origin, so the answer
  // does not depend on when it is asked.
  int64_t origin = days_from_civil(2025, 1, 1) * day;
  int64_t longest = 0;
  int64_t t = next_after(origin);
  if (t == INT64_MAX)
    return INT64_MAX;
  for (int i = 0; i < 20000 && t < origin + 366 * day; ++i) {
    auto next = next_after(t);
    if (next == INT64_MAX)
      break;
    longest = std::max(longest, next - t);
    t = next;
  }
  return longest > 0 ? longest : 366 * day;
}

} // namespace clean::config
