#define CAF_SUITE delivery.circuit_breaker
#include <caf/test/unit_test_impl.hpp>

#include "delivery/circuit_breaker.hpp"

#include <nlohmann/json.hpp>

#include <vector>

using namespace clean;
using namespace std::chrono_literals;

namespace {

struct fixture {
  config::breaker_settings cfg;
  circuit_breaker::time_point t{};
  std::vector<std::string> moves;

  fixture() {
    cfg.window = 4;
    cfg.minimum_calls = 3;
    cfg.failure_rate_percent = 50;
    cfg.open_for = 10s;
    cfg.half_open_calls = 2;
    cfg.half_open_max = 30s;
  }

  circuit_breaker make() {
    circuit_breaker b{"email", cfg};
    b.on_transition(
        [this](breaker_state, breaker_state to, const std::string&) { moves.push_back(to_string(to)); });
    return b;
  }

  void call(circuit_breaker& b, bool ok) {
    CAF_REQUIRE(b.try_acquire(t));
    if (ok)
      b.on_success(t);
    else
      b.on_failure(t);
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(circuit_breaker_tests, fixture)

CAF_TEST(stays closed below the minimum number of calls) {
  auto b = make();
  call(b, false);
  call(b, false);
  CAF_CHECK_EQUAL(b.state(t), breaker_state::closed);
  call(b, false); // three calls, all failed: over 50 %
  CAF_CHECK_EQUAL(b.state(t), breaker_state::open);
  CAF_CHECK(!b.try_acquire(t));
  CAF_CHECK_EQUAL(moves, std::vector<std::string>{"open"});
}

CAF_TEST(the rate is judged over the sliding window only) {
  auto b = make();
  call(b, false);
  for (int i = 0; i < 4; ++i)
    call(b, true); // the early failure slides out of the 4-call window
  call(b, false);
  CAF_CHECK_EQUAL(b.state(t), breaker_state::closed); // 1 of 4
  call(b, false);
  CAF_CHECK_EQUAL(b.state(t), breaker_state::open); // 2 of 4 = 50 %
}

CAF_TEST(open turns half_open after open_for and closes after the trial calls) {
  auto b = make();
  for (int i = 0; i < 3; ++i)
    call(b, false);
  t += 9s;
  CAF_CHECK(!b.try_acquire(t));
  CAF_CHECK_EQUAL(b.retry_after(t), 1000ms);
  t += 1s;
  CAF_CHECK_EQUAL(b.state(t), breaker_state::half_open);
  CAF_CHECK(b.try_acquire(t));
  CAF_CHECK(b.try_acquire(t));
  CAF_CHECK(!b.try_acquire(t)); // only two trials at a time
  b.on_success(t);
  CAF_CHECK_EQUAL(b.state(t), breaker_state::half_open);
  b.on_success(t);
  CAF_CHECK_EQUAL(b.state(t), breaker_state::closed);
  CAF_CHECK_EQUAL(moves, (std::vector<std::string>{"open", "half_open", "closed"}));
  // A fresh window: one failure right after closing does not reopen it.
  call(b, false);
  CAF_CHECK_EQUAL(b.state(t), breaker_state::closed);
}

CAF_TEST(a failed trial reopens it) {
  auto b = make();
  for (int i = 0; i < 3; ++i)
    call(b, false);
  t += 10s;
  CAF_REQUIRE(b.try_acquire(t));
  b.on_failure(t);
  CAF_CHECK_EQUAL(b.state(t), breaker_state::open);
  CAF_CHECK(!b.try_acquire(t + 9s));
}

CAF_TEST(sparse traffic cannot keep it half_open forever) {
  auto b = make();
  for (int i = 0; i < 3; ++i)
    call(b, false);
  t += 10s;
  // No traffic: nothing to decide, it waits half-open.
  t += 1h;
  CAF_CHECK_EQUAL(b.state(t), breaker_state::half_open);
  // One trial in a long while, successful; the second never comes.
  CAF_REQUIRE(b.try_acquire(t));
  b.on_success(t);
  t += 29s;
  CAF_CHECK_EQUAL(b.state(t), breaker_state::half_open);
  t += 1s;
  CAF_CHECK_EQUAL(b.state(t), breaker_state::closed);
}

CAF_TEST(a trial that never answers reopens it at the half_open limit) {
  auto b = make();
  for (int i = 0; i < 3; ++i)
    call(b, false);
  t += 10s;
  CAF_REQUIRE(b.try_acquire(t)); // its answer is lost
  t += 30s;
  CAF_CHECK_EQUAL(b.state(t), breaker_state::open);
}

CAF_TEST(forced states hold until reset) {
  auto b = make();
  b.force_open(t, "maintenance");
  CAF_CHECK(!b.try_acquire(t));
  t += 1h;
  CAF_CHECK_EQUAL(b.state(t), breaker_state::forced_open);
  CAF_CHECK_EQUAL(gauge_value(b.state(t)), 1);
  b.force_closed(t, "provider is fine");
  for (int i = 0; i < 10; ++i)
    call(b, false);
  CAF_CHECK_EQUAL(b.state(t), breaker_state::forced_closed);
  CAF_CHECK_EQUAL(gauge_value(b.state(t)), 0);
  b.reset(t, "done");
  CAF_CHECK_EQUAL(b.state(t), breaker_state::closed);
  auto snap = b.snapshot(t);
  CAF_CHECK_EQUAL(snap["state"].get<std::string>(), "closed");
  CAF_CHECK_EQUAL(snap["last_transition"]["from"].get<std::string>(), "forced_closed");
  CAF_CHECK_EQUAL(snap["last_transition"]["reason"].get<std::string>(), "done");
  CAF_CHECK_EQUAL(snap["window"]["calls"].get<int>(), 0);
}

CAF_TEST(the board keeps the latest snapshot per breaker) {
  circuit_board board;
  CAF_CHECK(!board.has("email"));
  board.publish("email", R"({"state":"open"})");
  board.publish("email", R"({"state":"closed"})");
  board.publish("sms", R"({"state":"open"})");
  auto all = board.snapshots();
  CAF_REQUIRE_EQUAL(all.size(), 2u);
  CAF_CHECK_EQUAL(all[0], R"({"state":"closed"})");
  CAF_CHECK(board.has("email"));
}

CAF_TEST_FIXTURE_SCOPE_END()
