#define CAF_SUITE supervision.pooled_message
#include <caf/test/unit_test_impl.hpp>

#include <caf/test/dsl.hpp>

#include "supervision/pooled_message.hpp"

#include <set>
#include <string>
#include <thread>
#include <vector>

namespace pooled_test {

/// Counts live instances, so the tests see that every pooled element's
/// content is destroyed.
inline int live = 0;

struct note {
  note(std::string t) : text(std::move(t)) { ++live; }
  note(const note& other) : text(other.text) { ++live; }
  note(note&& other) noexcept : text(std::move(other.text)) { ++live; }
  note& operator=(const note&) = default;
  note& operator=(note&&) = default;
  ~note() { --live; }
  std::string text;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, note& x) {
  return f(caf::meta::type_name("note"), x.text);
}

/// Sizes of their own, so each depot holds only what its one test puts
/// there, and the tests can tell every block they get back.
struct medium {
  char bytes[120];
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, medium& x) {
  return f(caf::meta::type_name("medium"), x.bytes[0]);
}

struct wide {
  char bytes[200];
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, wide& x) {
  return f(caf::meta::type_name("wide"), x.bytes[0]);
}

} // namespace pooled_test

CLEAN_POOLED_MESSAGE(pooled_test::note);
CLEAN_POOLED_MESSAGE(pooled_test::medium);
CLEAN_POOLED_MESSAGE(pooled_test::wide);

using namespace pooled_test;
namespace pool = clean::supervision::pool;

namespace {

struct inbox_state {
  std::vector<std::string> got;
};

caf::behavior inbox(caf::stateful_actor<inbox_state>* self) {
  return {[self](const note& n) {
    self->state.got.push_back(n.text);
  }};
}

caf::mailbox_element_ptr make_note(std::string text) {
  return caf::make_mailbox_element(nullptr, caf::make_message_id(), {}, note{std::move(text)});
}

caf::mailbox_element_ptr make_medium() {
  return caf::make_mailbox_element(nullptr, caf::make_message_id(), {}, medium{});
}

caf::mailbox_element_ptr make_wide() {
  return caf::make_mailbox_element(nullptr, caf::make_message_id(), {}, wide{});
}

struct fixture : test_coordinator_fixture<> {};

} // namespace

CAF_TEST_FIXTURE_SCOPE(pooled_message_tests, fixture)

CAF_TEST(pooled messages arrive intact and are destroyed once handled) {
  auto receiver = sys.spawn(inbox);
  for (int i = 0; i < 600; ++i) // more than two batches: spills and refills
    self->send(receiver, note{"n" + std::to_string(i)});
  sched.run();
  auto& got = deref<caf::stateful_actor<inbox_state>>(receiver).state.got;
  CAF_REQUIRE_EQUAL(got.size(), 600u);
  CAF_CHECK_EQUAL(got.front(), "n0");
  CAF_CHECK_EQUAL(got.back(), "n599");
  CAF_CHECK_EQUAL(live, 0);
}

CAF_TEST(a pooled element turns into an ordinary message) {
  {
    auto element = make_note("kept");
    CAF_CHECK(element->content().match_elements<note>());
    auto copy = element->copy_content_to_message();
    CAF_CHECK_EQUAL(copy.get_as<note>(0).text, "kept");
    auto moved = element->move_content_to_message();
    CAF_CHECK_EQUAL(moved.get_as<note>(0).text, "kept");
  }
  CAF_CHECK_EQUAL(live, 0);
}

CAF_TEST(freed blocks are handed out again on the same thread) {
  std::set<void*> first;
  {
    std::vector<caf::mailbox_element_ptr> held;
    for (size_t i = 0; i < 3 * pool::batch_size; ++i) {
      held.push_back(make_medium());
      first.insert(held.back().get());
    }
  }
  size_t reused = 0;
  std::vector<caf::mailbox_element_ptr> again;
  for (size_t i = 0; i < 3 * pool::batch_size; ++i) {
    again.push_back(make_medium());
    reused += first.count(again.back().get());
  }
  CAF_CHECK_EQUAL(reused, 3 * pool::batch_size);
}

CAF_TEST(blocks freed on one thread serve allocations on another) {
  // One thread allocates, a second frees and exits, the test's thread then
  // allocates: a receiver's frees must come back to its senders.
  constexpr size_t count = 3 * pool::batch_size;
  std::vector<caf::mailbox_element_ptr> made;
  std::thread{[&] {
    for (size_t i = 0; i < count; ++i)
      made.push_back(make_wide());
  }}.join();
  std::set<void*> freed;
  for (auto& element : made)
    freed.insert(element.get());
  CAF_REQUIRE_EQUAL(freed.size(), count);
  // The first block of a fresh depot starts its first 2 MB slab: these
  // came from the pool, not from malloc.
  CAF_CHECK_EQUAL(reinterpret_cast<uintptr_t>(made.front().get()) % (uintptr_t{2} << 20), 0u);
  std::thread{[&] {
    made.clear();
  }}.join();
  size_t reused = 0;
  std::vector<caf::mailbox_element_ptr> again;
  for (size_t i = 0; i < count; ++i) {
    again.push_back(make_wide());
    reused += freed.count(again.back().get());
  }
  CAF_CHECK_EQUAL(reused, count);
}

CAF_TEST(blocks are aligned for any type) {
  auto element = make_wide();
  CAF_CHECK_EQUAL(reinterpret_cast<uintptr_t>(element.get()) % alignof(std::max_align_t), 0u);
}

CAF_TEST_FIXTURE_SCOPE_END()
