#define CAF_SUITE config.schedule
#include <caf/test/unit_test_impl.hpp>

#include "config/schedule.hpp"

using clean::config::schedule;

namespace {

schedule parsed(const char* text) {
  std::string error;
  auto s = schedule::parse(text, error);
  if (!s)
    CAF_FAIL("could not parse '" << text << "': " << error);
  return *s;
}

bool rejected(const char* text) {
  std::string error;
  auto s = schedule::parse(text, error);
  return !s && !error.empty();
}

// 2026-11-25T12:34:56Z (a Wednesday).
constexpr int64_t t0 = 1795610096;
constexpr int64_t day = 86400;

} // namespace

CAF_TEST(intervals are aligned to the epoch) {
  auto s = parsed("every 5m");
  CAF_CHECK_EQUAL(s.period(), 300);
  CAF_CHECK_EQUAL(s.next_after(t0), (t0 / 300 + 1) * 300);
  CAF_CHECK_EQUAL(s.next_after(1800), 2100); // strictly after a slot
  CAF_CHECK_EQUAL(parsed("30s").period(), 30);
  CAF_CHECK_EQUAL(parsed("@every 2h").period(), 7200);
  CAF_CHECK_EQUAL(parsed("1d").period(), day);
}

CAF_TEST(cron expressions in UTC) {
  auto nightly = parsed("0 3 * * *");
  // 2026-11-26T03:00:00Z
  CAF_CHECK_EQUAL(nightly.next_after(t0), 1795662000);
  CAF_CHECK_EQUAL(nightly.period(), day);
  auto quarter = parsed("*/15 * * * *");
  CAF_CHECK_EQUAL(quarter.next_after(t0), 1795610700); // 12:45:00
  CAF_CHECK_EQUAL(quarter.period(), 900);
  auto weekdays = parsed("30 9 * * 1-5");
  // Friday 2026-11-27 09:30 -> next is Monday 2026-11-30 09:30.
  CAF_CHECK_EQUAL(weekdays.next_after(1795771800), 1796031000);
  CAF_CHECK_EQUAL(weekdays.period(), 3 * day);
  auto list = parsed("0 8,20 1 * *");
  CAF_CHECK_EQUAL(list.next_after(t0), 1796112000); // 2026-12-01 08:00
  CAF_CHECK_EQUAL(parsed("@hourly").period(), 3600);
  CAF_CHECK_EQUAL(parsed("@daily").next_after(t0), 1795651200); // midnight
  // Sunday as 7 and as 0.
  CAF_CHECK_EQUAL(parsed("0 0 * * 7").next_after(t0), parsed("0 0 * * 0").next_after(t0));
}

CAF_TEST(day of month and weekday restricted together match either) {
  auto s = parsed("0 0 1 * 1");                  // the 1st, or any Monday
  CAF_CHECK_EQUAL(s.next_after(t0), 1795996800); // Monday 2026-11-30
}

CAF_TEST(bad schedules are rejected with an explanation) {
  for (auto bad :
       {"", "5", "5x", "every", "every -5m", "0s", "61 * * * *", "* 24 * * *", "* * 0 * *", "* * * 13 *",
        "* * * * 8", "*/0 * * * *", "1-x * * * *", "5-1 * * * *", "* * * *", "* * * * * *", "9999999d"})
    CAF_CHECK_EQUAL(std::string{bad} + (rejected(bad) ? "" : " accepted"), std::string{bad});
}
