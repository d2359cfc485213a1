#define CAF_SUITE actors.db_pool
#include <caf/test/unit_test_impl.hpp>

#include <caf/test/dsl.hpp>

#include "actors/db_pool.hpp"

#include <atomic>
#include <thread>

using namespace clean;
using namespace std::chrono_literals;

namespace {

using release_atom = caf::atom_constant<caf::atom("release")>;

/// What the fake connections do, decided by the test.
struct control {
  bool connect_ok = true;
  bool hold = false;       // keep tasks until `release`
  bool break_next = false; // the next task finds the connection broken
  bool break_all = false;  // every task does
  int spawned = 0;
  int stopped = 0;
  int tasks = 0;
  int cancels = 0;
  bool cancel_may_finish = true; // false: cancels wait in `pending_cancels`
  std::vector<std::function<void()>> pending_cancels;

  std::vector<caf::actor> conns;
};

struct fake_conn_state {
  std::vector<db_task> held;
};

void answer(caf::stateful_actor<fake_conn_state>* self, const caf::actor& pool, uint64_t slot, db_task& t) {
  self->send(pool, db_done{slot, t.seq, t.call.payload, {}, false, false});
}

/// Stands in for a database connection: echoes each task's payload as its
/// result, or holds it, or reports a broken connection.
caf::behavior fake_conn(caf::stateful_actor<fake_conn_state>* self, uint64_t slot, caf::actor pool,
                        control* ctl) {
  ++ctl->spawned;
  self->attach_functor([ctl] { ++ctl->stopped; });
  if (!ctl->connect_ok) {
    self->send(pool, db_connect_failed{slot, "connection refused"});
    self->quit();
    return {};
  }
  ctl->conns.push_back(self);
  self->send(pool, db_connected{slot, [ctl] {
                                  ++ctl->cancels;
                                }});
  return {
      [self, slot, pool, ctl](db_task& t) {
        ++ctl->tasks;
        if (ctl->break_next || ctl->break_all) {
          ctl->break_next = false;
          self->send(pool, db_done{slot, t.seq, {}, make_error(errc::database_unavailable), true, true});
          self->quit();
          return;
        }
        if (ctl->hold)
          self->state.held.push_back(std::move(t));
        else
          answer(self, pool, slot, t);
      },
      [self, slot, pool](release_atom) {
        for (auto& t : self->state.held)
          answer(self, pool, slot, t);
        self->state.held.clear();
      },
  };
}

struct fixture : test_coordinator_fixture<> {
  control ctl;
  caf::actor pool;
  db_pool_config cfg;

  fixture() {
    cfg.size = 2;
    cfg.max_overflow = 1;
    cfg.wait_timeout = 500ms;
    cfg.overflow_idle = 2s;
    cfg.sweep_interval = 100ms;
    cfg.reconnect_min = 100ms;
    cfg.reconnect_max = 400ms;
    cfg.start_connection = [this](caf::local_actor* p, uint64_t slot) {
      return p->spawn(fake_conn, slot, caf::actor_cast<caf::actor>(p), &ctl);
    };
    // Cancels run on the test's thread (the deterministic scheduler's), now
    // or when the test lets them land.
    cfg.run_cancel = [this](std::function<void()> cancel, std::function<void()> landed) {
      cancel();
      if (ctl.cancel_may_finish)
        landed();
      else
        ctl.pending_cancels.push_back(std::move(landed));
    };
  }

  void start() {
    pool = sys.spawn(db_pool, cfg, supervised_context{});
    sched.run();
  }

  ~fixture() override {
    if (pool)
      caf::anon_send_exit(pool, caf::exit_reason::user_shutdown);
    sched.run();
  }

  db_pool_state& state() {
    return deref<caf::stateful_actor<db_pool_state, instrumented<caf::event_based_actor>>>(pool).state;
  }

  int64_t in(std::chrono::milliseconds d) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>((sched.clock().now() + d).time_since_epoch())
        .count();
  }

  using handle_t = decltype(std::declval<caf::scoped_actor&>()->request(
      std::declval<caf::actor&>(), caf::infinite, std::declval<db_call>()));

  handle_t ask(int value, int64_t deadline_ns = 0) {
    return self->request(pool, caf::infinite, db_call{"test.op", deadline_ns, caf::make_message(value)});
  }

  /// The echoed value, or -1 with the error in `err`.
  int fetch(handle_t& h, caf::error* err = nullptr) {
    int out = -1;
    h.receive([&](int x) { out = x; },
              [&](caf::error& e) {
                if (err)
                  *err = e;
              });
    return out;
  }

  void tick(std::chrono::milliseconds d) {
    advance_time(d);
    sched.run();
  }

  void release_all() {
    for (auto& c : ctl.conns)
      caf::anon_send(c, release_atom::value);
    sched.run();
  }

  /// A call stuck in its statement past its 250 ms deadline: answered with
  /// deadline_exceeded and its query cancelled once.
  void stick_one_call_past_its_deadline() {
    ctl.hold = true;
    auto a = ask(1, in(250ms));
    sched.run();
    tick(300ms);
    caf::error err;
    CAF_CHECK_EQUAL(fetch(a, &err), -1);
    CAF_CHECK(is(err, errc::deadline_exceeded));
    CAF_CHECK_EQUAL(ctl.cancels, 1);
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(db_pool_tests, fixture)

CAF_TEST(opens the steady connections and answers through them) {
  start();
  CAF_CHECK_EQUAL(ctl.spawned, 2);
  CAF_CHECK_EQUAL(state().idle.size(), 2u);
  auto h = ask(7);
  sched.run();
  CAF_CHECK_EQUAL(fetch(h), 7);
  CAF_CHECK_EQUAL(state().idle.size(), 2u);
}

CAF_TEST(opens an overflow connection under load and closes it when idle) {
  start();
  ctl.hold = true;
  auto a = ask(1);
  auto b = ask(2);
  auto c = ask(3);
  sched.run();
  CAF_CHECK_EQUAL(ctl.spawned, 3); // two steady + one overflow for the third call
  CAF_CHECK_EQUAL(ctl.tasks, 3);
  auto d = ask(4); // beyond size + overflow: waits
  sched.run();
  CAF_CHECK_EQUAL(ctl.spawned, 3);
  CAF_CHECK_EQUAL(state().waiters.size(), 1u);
  ctl.hold = false;
  release_all();
  CAF_CHECK_EQUAL(fetch(a), 1);
  CAF_CHECK_EQUAL(fetch(b), 2);
  CAF_CHECK_EQUAL(fetch(c), 3);
  CAF_CHECK_EQUAL(fetch(d), 4);
  CAF_CHECK_EQUAL(state().slots.size(), 3u);
  tick(2100ms);
  CAF_CHECK_EQUAL(state().slots.size(), 2u); // the overflow connection idled out
  CAF_CHECK_EQUAL(ctl.stopped, 1);
}

CAF_TEST(a wait longer than the pool timeout fails with pool_timeout) {
  cfg.max_overflow = 0;
  start();
  ctl.hold = true;
  auto a = ask(1);
  auto b = ask(2);
  auto c = ask(3);
  sched.run();
  CAF_CHECK_EQUAL(state().waiters.size(), 1u);
  tick(400ms);
  CAF_CHECK_EQUAL(state().waiters.size(), 1u); // not yet
  tick(200ms);
  caf::error err;
  CAF_CHECK_EQUAL(fetch(c, &err), -1);
  CAF_CHECK(is(err, errc::pool_timeout));
  CAF_CHECK_EQUAL(detail_of(err).code, "db_pool_timeout");
  CAF_CHECK(state().waiters.empty());
  // The busy connections were not leaked: released, they serve again.
  ctl.hold = false;
  release_all();
  CAF_CHECK_EQUAL(fetch(a), 1);
  CAF_CHECK_EQUAL(fetch(b), 2);
  auto d = ask(4);
  sched.run();
  CAF_CHECK_EQUAL(fetch(d), 4);
}

CAF_TEST(a call past its deadline is answered and its query cancelled) {
  start();
  stick_one_call_past_its_deadline();
  // The late answer is dropped; the connection is reused once its cancel
  // has landed.
  ctl.hold = false;
  release_all();
  CAF_CHECK_EQUAL(state().idle.size(), 2u);
}

CAF_TEST(a cancelled connection is not handed out before its cancel has landed) {
  cfg.max_overflow = 0;
  start();
  ctl.cancel_may_finish = false;
  stick_one_call_past_its_deadline();
  // The statement ends (cancelled or not) while the cancel is still on its
  // way: the connection stays out of the pool, so the next caller cannot
  // be hit by it.
  ctl.hold = false;
  release_all();
  CAF_CHECK_EQUAL(state().idle.size(), 1u);
  ctl.hold = true;
  auto b = ask(2);
  auto c = ask(3);
  sched.run();
  CAF_CHECK_EQUAL(ctl.tasks, 2); // a and b; c waits for the cancelled connection
  CAF_CHECK_EQUAL(state().waiters.size(), 1u);
  ctl.hold = false;
  for (auto& landed : ctl.pending_cancels)
    landed();
  sched.run();
  CAF_CHECK_EQUAL(ctl.tasks, 3);
  release_all();
  CAF_CHECK_EQUAL(fetch(b), 2);
  CAF_CHECK_EQUAL(fetch(c), 3);
}

CAF_TEST(a cancel that landed while the call kept running is sent again) {
  cfg.max_overflow = 0;
  start();
  stick_one_call_past_its_deadline();
  // The cancel reached the server between two statements of the call (it
  // cancelled nothing) and the call is still stuck: it is asked again each
  // second until the call ends, and not before.
  tick(500ms);
  CAF_CHECK_EQUAL(ctl.cancels, 1);
  tick(600ms);
  CAF_CHECK_EQUAL(ctl.cancels, 2);
  tick(1100ms);
  CAF_CHECK_EQUAL(ctl.cancels, 3);
  ctl.hold = false;
  release_all();
  tick(2s);
  CAF_CHECK_EQUAL(ctl.cancels, 3); // the call ended: no more
  CAF_CHECK_EQUAL(state().idle.size(), 2u);
}

CAF_TEST(a connection that broke under a call is replaced and the call retried) {
  start();
  ctl.break_next = true;
  auto a = ask(5);
  sched.run();
  CAF_CHECK_EQUAL(fetch(a), 5); // retried on the other connection
  CAF_CHECK_EQUAL(ctl.tasks, 2);
  CAF_CHECK_EQUAL(ctl.spawned, 3); // the broken one was replaced at once
  CAF_CHECK_EQUAL(state().idle.size(), 2u);
}

CAF_TEST(a call meeting only broken connections gives up after trying each) {
  start();
  ctl.break_all = true; // every connection it meets, replacements included
  auto a = ask(5);
  sched.run();
  caf::error err;
  CAF_CHECK_EQUAL(fetch(a, &err), -1);
  CAF_CHECK(is(err, errc::database_unavailable));
  CAF_CHECK_EQUAL(ctl.tasks, 1 + cfg.size + cfg.max_overflow);
}

CAF_TEST(an unreachable database fails requests fast and recovers with backoff) {
  ctl.connect_ok = false;
  start();
  CAF_CHECK(state().down);
  caf::error err;
  auto a = ask(1);
  sched.run();
  CAF_CHECK_EQUAL(fetch(a, &err), -1);
  CAF_CHECK(is(err, errc::database_unavailable));
  auto attempts = ctl.spawned;
  tick(100ms); // first retry: one connection attempt, not a burst
  CAF_CHECK_EQUAL(ctl.spawned, attempts + 1);
  tick(300ms); // the backoff doubled twice (400 ms): nothing yet
  CAF_CHECK_EQUAL(ctl.spawned, attempts + 1);
  ctl.connect_ok = true;
  tick(100ms);
  CAF_CHECK(!state().down);
  CAF_CHECK_EQUAL(state().idle.size(), 2u); // refilled to the pool size
  auto b = ask(2);
  sched.run();
  CAF_CHECK_EQUAL(fetch(b), 2);
}

CAF_TEST(a crashed connection fails its call and is replaced) {
  start();
  ctl.hold = true;
  auto a = ask(1);
  sched.run();
  auto busy = ctl.conns.back();
  caf::anon_send_exit(busy, caf::exit_reason::kill);
  sched.run();
  caf::error err;
  CAF_CHECK_EQUAL(fetch(a, &err), -1);
  CAF_CHECK(is(err, errc::database_unavailable));
  CAF_CHECK_EQUAL(ctl.spawned, 3);
  CAF_CHECK_EQUAL(state().slots.size(), 2u);
}

CAF_TEST_FIXTURE_SCOPE_END()
