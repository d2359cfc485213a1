#define CAF_SUITE http.settled_events
#include <caf/test/unit_test_impl.hpp>

#include "http/settled_events.hpp"

using clean::http::settled_events;

namespace {

bool known(const settled_events& s, const std::string& id) {
  return s.contains(id);
}

} // namespace

CAF_TEST(a remembered event is known) {
  settled_events s;
  s.set_capacity(4);
  CAF_CHECK(!known(s, "evt_1"));
  s.remember("evt_1");
  CAF_CHECK(known(s, "evt_1"));
  CAF_CHECK(!known(s, "evt_2"));
}

CAF_TEST(the oldest event goes first once the capacity is reached) {
  settled_events s;
  s.set_capacity(3);
  for (auto id : {"evt_1", "evt_2", "evt_3", "evt_4"})
    s.remember(id);
  CAF_CHECK_EQUAL(s.size(), 3u);
  CAF_CHECK(!known(s, "evt_1"));
  CAF_CHECK(known(s, "evt_2") && known(s, "evt_4"));
}

CAF_TEST(remembering an event twice keeps one entry) {
  settled_events s;
  s.set_capacity(2);
  s.remember("evt_1");
  s.remember("evt_1");
  s.remember("evt_2");
  CAF_CHECK_EQUAL(s.size(), 2u);
  CAF_CHECK(known(s, "evt_1") && known(s, "evt_2"));
}

CAF_TEST(capacity zero remembers nothing and shrinking drops the oldest) {
  settled_events off;
  off.remember("evt_1");
  CAF_CHECK_EQUAL(off.size(), 0u);
  settled_events s;
  s.set_capacity(3);
  for (auto id : {"evt_1", "evt_2", "evt_3"})
    s.remember(id);
  s.set_capacity(1);
  CAF_CHECK_EQUAL(s.size(), 1u);
  CAF_CHECK(known(s, "evt_3"));
  s.set_capacity(0);
  CAF_CHECK_EQUAL(s.size(), 0u);
}
