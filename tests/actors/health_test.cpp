#define CAF_SUITE actors.health
#include <caf/test/unit_test_impl.hpp>

#include <caf/test/dsl.hpp>

#include "actors/health.hpp"

using namespace clean;
using namespace std::chrono_literals;

namespace {

using answer_atom = caf::atom_constant<caf::atom("answer")>;

/// Stands in for the database worker: counts probes and answers only when
/// the test sends `answer`, so timing is entirely under the test's control.
struct probe_control {
  int probes = 0;
};

struct fake_worker_state {
  std::vector<caf::response_promise> pending;
};

caf::behavior fake_worker(caf::stateful_actor<fake_worker_state>* self, probe_control* ctl) {
  return {
      [self, ctl](probe_atom, int64_t) {
        ++ctl->probes;
        self->state.pending.push_back(self->make_response_promise());
      },
      [self](answer_atom, const db_probe_result& r) {
        for (auto& p : self->state.pending)
          p.deliver(r);
        self->state.pending.clear();
      },
  };
}

db_probe_result up(int64_t version) {
  return {true, 1.5, version, ""};
}

struct fixture : test_coordinator_fixture<> {
  probe_control ctl;
  caf::actor worker;
  health_actor health_hdl;

  void answer_all(db_probe_result r) {
    caf::anon_send(worker, answer_atom::value, r);
    sched.run();
  }

  fixture() {
    health_config cfg;
    cfg.probe_timeout = 800ms;
    cfg.reuse_window = 250ms;
    cfg.refresh_interval = 0ms; // no recurring timer: the test drives time
    cfg.migrations_head = 2;
    worker = sys.spawn(fake_worker, &ctl);
    cfg.find_worker = [w = worker] {
      return caf::actor_cast<db_probe_actor>(w);
    };
    health_hdl = sys.spawn(health, cfg, supervised_context{});
    sched.run(); // the start-up probe is sent
  }

  ~fixture() override {
    caf::anon_send_exit(worker, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(health_hdl, caf::exit_reason::user_shutdown);
  }

  using handle_t = decltype(std::declval<caf::scoped_actor&>()->request(std::declval<health_actor&>(),
                                                                        caf::infinite, readyz_atom::value));

  handle_t ask() { return self->request(health_hdl, caf::infinite, readyz_atom::value); }

  readiness_report fetch(handle_t& h) {
    readiness_report out;
    h.receive([&](readiness_report& r) { out = r; },
              [&](caf::error& e) { CAF_FAIL("readyz failed: " << sys.render(e)); });
    return out;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(health_tests, fixture)

CAF_TEST(start up probes once) {
  CAF_CHECK_EQUAL(ctl.probes, 1);
}

CAF_TEST(concurrent callers share one probe) {
  auto a = ask();
  auto b = ask();
  sched.run();
  CAF_CHECK_EQUAL(ctl.probes, 1); // both joined the start-up probe
  answer_all(up(2));
  sched.run();
  auto ra = fetch(a);
  auto rb = fetch(b);
  CAF_CHECK(ra.database.ok);
  CAF_CHECK(rb.database.ok);
  CAF_CHECK_EQUAL(ra.database.schema_version, 2);
  CAF_CHECK_EQUAL(ra.migrations_head, 2);
  CAF_CHECK(!ra.shutting_down);
}

CAF_TEST(fresh results are reused and stale ones re probed) {
  answer_all(up(2));
  sched.run();
  auto a = ask();
  sched.run();
  CAF_CHECK_EQUAL(ctl.probes, 1); // within the reuse window
  CAF_CHECK(fetch(a).database.ok);

  advance_time(300ms);
  auto b = ask();
  sched.run();
  CAF_CHECK_EQUAL(ctl.probes, 2);
  answer_all({false, 0, 0, "connection refused"});
  sched.run();
  auto rb = fetch(b);
  CAF_CHECK(!rb.database.ok);
  CAF_CHECK_EQUAL(rb.database.error, "connection refused");
}

CAF_TEST(a success handled late ages from when its probe started) {
  // The start-up probe was sent at t0; its answer is handled 200 ms later.
  advance_time(200ms);
  answer_all(up(2));
  sched.run();
  advance_time(100ms); // 300 ms after the probe started, 100 ms after its answer
  auto a = ask();
  sched.run();
  CAF_CHECK_EQUAL(ctl.probes, 2); // past the 250 ms window: probed again
  answer_all(up(2));
  sched.run();
  CAF_CHECK(fetch(a).database.ok);
}

CAF_TEST(a hung database yields a failed report at the deadline) {
  auto a = ask();
  sched.run();
  CAF_CHECK_EQUAL(ctl.probes, 1);
  advance_time(799ms);
  sched.run();
  CAF_CHECK(!self->has_next_message()); // not yet answered
  advance_time(2ms);
  sched.run();
  auto r = fetch(a);
  CAF_CHECK(!r.database.ok);
  CAF_CHECK(r.database.error.find("800 ms") != std::string::npos);
  // The next caller starts a fresh probe rather than waiting on the hung one forever.
  advance_time(300ms);
  auto b = ask();
  sched.run();
  CAF_CHECK_EQUAL(ctl.probes, 2);
  answer_all(up(2));
  sched.run();
  CAF_CHECK(fetch(b).database.ok);
}

CAF_TEST(drain makes the report say shutting down) {
  answer_all(up(2));
  sched.run();
  caf::anon_send(health_hdl, drain_atom::value);
  sched.run();
  auto a = ask();
  sched.run();
  auto r = fetch(a);
  CAF_CHECK(r.shutting_down);
  CAF_CHECK(r.database.ok);
}

CAF_TEST_FIXTURE_SCOPE_END()
