#define CAF_SUITE http.settled_events
#include <caf/test/unit_test_impl.hpp>

#include "http/settled_events.hpp"

using clean::http::settled_events;
using namespace std::chrono_literals;

namespace {

const settled_events::clock::time_point t0{};

settled_events sized(size_t capacity) {
  settled_events s;
  s.configure(capacity, 10min);
  return s;
}

} // namespace

CAF_TEST(a remembered event is known) {
  auto s = sized(4);
  CAF_CHECK(!s.contains("evt_1", t0));
  s.remember("evt_1", t0);
  CAF_CHECK(s.contains("evt_1", t0));
  CAF_CHECK(!s.contains("evt_2", t0));
}

CAF_TEST(the oldest event goes first once the capacity is reached) {
  auto s = sized(3);
  for (auto id : {"evt_1", "evt_2", "evt_3", "evt_4"})
    s.remember(id, t0);
  CAF_CHECK_EQUAL(s.size(), 3u);
  CAF_CHECK(!s.contains("evt_1", t0));
  CAF_CHECK(s.contains("evt_2", t0) && s.contains("evt_4", t0));
}

CAF_TEST(an event older than the age limit is forgotten) {
  auto s = sized(10);
  s.remember("evt_old", t0);
  s.remember("evt_new", t0 + 6min);
  CAF_CHECK(s.contains("evt_old", t0 + 10min));
  CAF_CHECK(!s.contains("evt_old", t0 + 10min + 1s));
  CAF_CHECK(s.contains("evt_new", t0 + 10min + 1s));
  CAF_CHECK_EQUAL(s.size(), 1u);
}

CAF_TEST(remembering an event twice keeps one entry) {
  auto s = sized(2);
  s.remember("evt_1", t0);
  s.remember("evt_1", t0 + 1s);
  s.remember("evt_2", t0 + 2s);
  CAF_CHECK_EQUAL(s.size(), 2u);
  CAF_CHECK(s.contains("evt_1", t0 + 2s) && s.contains("evt_2", t0 + 2s));
}

CAF_TEST(capacity zero remembers nothing and shrinking drops the oldest) {
  settled_events off;
  off.remember("evt_1", t0);
  CAF_CHECK_EQUAL(off.size(), 0u);
  auto s = sized(3);
  for (auto id : {"evt_1", "evt_2", "evt_3"})
    s.remember(id, t0);
  s.configure(1, 10min);
  CAF_CHECK_EQUAL(s.size(), 1u);
  CAF_CHECK(s.contains("evt_3", t0));
  s.configure(0, 10min);
  CAF_CHECK_EQUAL(s.size(), 0u);
}

CAF_TEST(clear forgets everything and the cache keeps working) {
  auto s = sized(3);
  s.remember("evt_1", t0);
  s.remember("evt_2", t0);
  s.clear();
  CAF_CHECK_EQUAL(s.size(), 0u);
  CAF_CHECK(!s.contains("evt_1", t0));
  s.remember("evt_3", t0);
  CAF_CHECK(s.contains("evt_3", t0));
}
