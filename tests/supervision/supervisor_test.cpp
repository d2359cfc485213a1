#define CAF_SUITE supervision.supervisor
#include <caf/test/unit_test_impl.hpp>

#include <caf/test/dsl.hpp>

#include "supervision/supervisor.hpp"

#include <nlohmann/json.hpp>

#include <map>

using namespace clean;
using namespace clean::supervision;
using namespace std::chrono_literals;

namespace {

using crash_atom = caf::atom_constant<caf::atom("crash")>;
using done_atom = caf::atom_constant<caf::atom("done")>;
using quiet_atom = caf::atom_constant<caf::atom("quiet")>;
using ping_atom = caf::atom_constant<caf::atom("ping")>;

/// What the test children did, in order: "start:a", "stop:a", ...
struct journal {
  std::vector<std::string> events;
  std::map<std::string, caf::actor> current;
  std::string joined() const {
    std::string out;
    for (auto& e : events)
      out += (out.empty() ? "" : " ") + e;
    return out;
  }
};

struct child_options {
  bool stubborn = false; // ignores orderly stop requests
};

struct test_child_state {
  // A declared constructor matters: CAF 0.17 constructs state with
  // State(self) when that compiles, and C++20 aggregate paren-init would
  // turn the actor pointer into `quiet = true`.
  test_child_state() = default;
  bool quiet = false;
  supervised_context ctx;
};

using test_child_pointer = caf::stateful_actor<test_child_state, instrumented<caf::event_based_actor>>*;

caf::behavior test_child(test_child_pointer self, journal* j, std::string id, supervised_context ctx,
                         child_options opts) {
  j->events.push_back("start:" + id);
  j->current[id] = caf::actor_cast<caf::actor>(self);
  self->attach_functor([j, id] { j->events.push_back("stop:" + id); });
  if (opts.stubborn)
    self->set_exit_handler([self](caf::exit_msg& msg) {
      if (msg.reason == caf::exit_reason::kill)
        self->quit(msg.reason);
    });
  self->state.ctx = ctx;
  supervise(self, ctx);
  return {
      [](ping_atom) { return 1; },
      [self](crash_atom) { self->quit(caf::make_error(caf::sec::runtime_error, "boom")); },
      [self](done_atom) { self->quit(); },
      [self](quiet_atom) { self->state.quiet = true; },
      [self](beat_atom) {
        if (!self->state.quiet)
          beat(self, self->state.ctx);
      },
  };
}

child_spec worker(journal* j, std::string id, restart_type restart = restart_type::permanent,
                  milliseconds ttl = 0ms, child_options opts = {}) {
  child_spec c;
  c.id = id;
  c.restart = restart;
  c.heartbeat_ttl = ttl;
  c.shutdown_timeout = 500ms;
  c.start = [j, id, opts](caf::local_actor* parent, const supervised_context& ctx) {
    return parent->spawn(test_child, j, id, ctx, opts);
  };
  return c;
}

supervisor_spec spec_of(std::string path, restart_strategy s, std::vector<child_spec> children) {
  supervisor_spec spec;
  spec.path = std::move(path);
  spec.strategy = s;
  spec.max_restarts = 5;
  spec.period = 10s;
  spec.backoff.min = 100ms;
  spec.backoff.max = 1000ms;
  spec.backoff.jitter = 0; // deterministic delays
  spec.children = std::move(children);
  return spec;
}

struct fixture : test_coordinator_fixture<> {
  journal j;
  caf::actor sup;

  void start(supervisor_spec spec) {
    sup = sys.spawn(supervisor, std::move(spec), supervised_context{});
    self->monitor(sup);
    sched.run();
    j.events.clear();
  }

  ~fixture() override {
    if (sup)
      caf::anon_send_exit(sup, caf::exit_reason::kill);
    sched.run();
  }

  void send(const std::string& id, caf::message msg) {
    caf::anon_send(j.current.at(id), std::move(msg));
    sched.run();
  }

  /// Moves time forward in small steps, letting actors run in between, as a
  /// real clock would.
  void pass(milliseconds total) {
    for (auto t = 0ms; t < total; t += 10ms) {
      advance_time(10ms);
      sched.run();
    }
  }

  supervisor_state& state() { return deref<std::remove_pointer_t<supervisor_pointer>>(sup).state; }

  caf::error down_reason() {
    caf::error reason;
    bool got = false;
    self->receive(
        [&](caf::down_msg& d) {
          reason = d.reason;
          got = true;
        },
        caf::after(std::chrono::seconds(0)) >> [] {});
    CAF_CHECK(got);
    return reason;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(supervisor_tests, fixture)

CAF_TEST(children start in order) {
  sup = sys.spawn(
      supervisor,
      spec_of("root", restart_strategy::one_for_one, {worker(&j, "a"), worker(&j, "b"), worker(&j, "c")}),
      supervised_context{});
  sched.run();
  CAF_CHECK_EQUAL(j.joined(), "start:a start:b start:c");
}

CAF_TEST(stopping the supervisor stops children in reverse order) {
  start(spec_of("root", restart_strategy::one_for_one, {worker(&j, "a"), worker(&j, "b"), worker(&j, "c")}));
  caf::anon_send_exit(sup, caf::exit_reason::user_shutdown);
  sched.run();
  CAF_CHECK_EQUAL(j.joined(), "stop:c stop:b stop:a");
  CAF_CHECK_EQUAL(down_reason(), caf::exit_reason::user_shutdown);
  sup = nullptr;
}

CAF_TEST(one_for_one restarts only the failed child after the backoff) {
  start(spec_of("root", restart_strategy::one_for_one, {worker(&j, "a"), worker(&j, "b"), worker(&j, "c")}));
  send("b", caf::make_message(crash_atom::value));
  CAF_CHECK_EQUAL(j.joined(), "stop:b");
  CAF_CHECK(state().children[1].status == child_status::restarting);
  advance_time(99ms);
  sched.run();
  CAF_CHECK_EQUAL(j.joined(), "stop:b");
  advance_time(1ms);
  sched.run();
  CAF_CHECK_EQUAL(j.joined(), "stop:b start:b");
  CAF_CHECK(state().children[1].status == child_status::running);
  CAF_CHECK_EQUAL(state().children[1].restarts, 1);
  CAF_CHECK(state().children[1].last_reason.find("boom") != std::string::npos);
}

CAF_TEST(one_for_all restarts every child in order) {
  start(spec_of("root", restart_strategy::one_for_all, {worker(&j, "a"), worker(&j, "b"), worker(&j, "c")}));
  send("b", caf::make_message(crash_atom::value));
  CAF_CHECK_EQUAL(j.joined(), "stop:b stop:c stop:a");
  pass(100ms);
  CAF_CHECK_EQUAL(j.joined(), "stop:b stop:c stop:a start:a start:b start:c");
}

CAF_TEST(rest_for_one restarts the failed child and those after it) {
  start(spec_of("root", restart_strategy::rest_for_one, {worker(&j, "a"), worker(&j, "b"), worker(&j, "c")}));
  send("b", caf::make_message(crash_atom::value));
  CAF_CHECK_EQUAL(j.joined(), "stop:b stop:c");
  pass(100ms);
  CAF_CHECK_EQUAL(j.joined(), "stop:b stop:c start:b start:c");
}

CAF_TEST(restart types) {
  start(spec_of("root", restart_strategy::one_for_one,
                {worker(&j, "perm", restart_type::permanent), worker(&j, "trans", restart_type::transient),
                 worker(&j, "temp", restart_type::temporary)}));
  // A normal exit: only permanent children come back.
  send("perm", caf::make_message(done_atom::value));
  send("trans", caf::make_message(done_atom::value));
  pass(200ms);
  CAF_CHECK_EQUAL(j.joined(), "stop:perm stop:trans start:perm");
  CAF_CHECK(state().children[1].status == child_status::stopped);
  caf::anon_send_exit(sup, caf::exit_reason::kill);
  sched.run();
  j.events.clear();
  // A crash: transient comes back too, temporary never does.
  start(spec_of("root2", restart_strategy::one_for_one,
                {worker(&j, "trans", restart_type::transient), worker(&j, "temp", restart_type::temporary)}));
  send("trans", caf::make_message(crash_atom::value));
  send("temp", caf::make_message(crash_atom::value));
  pass(200ms);
  CAF_CHECK_EQUAL(j.joined(), "stop:trans stop:temp start:trans");
}

CAF_TEST(backoff doubles for consecutive failures) {
  start(spec_of("root", restart_strategy::one_for_one, {worker(&j, "a")}));
  send("a", caf::make_message(crash_atom::value));
  pass(100ms);
  CAF_CHECK_EQUAL(j.joined(), "stop:a start:a");
  send("a", caf::make_message(crash_atom::value));
  pass(190ms);
  CAF_CHECK_EQUAL(j.joined(), "stop:a start:a stop:a"); // second delay is 200 ms
  pass(10ms);
  CAF_CHECK_EQUAL(j.joined(), "stop:a start:a stop:a start:a");
  send("a", caf::make_message(crash_atom::value));
  pass(390ms);
  CAF_CHECK_EQUAL(state().children[0].status, child_status::restarting);
  pass(10ms);
  CAF_CHECK_EQUAL(state().children[0].status, child_status::running);
  CAF_CHECK_EQUAL(state().children[0].restarts, 3);
}

CAF_TEST(backoff policy math) {
  backoff_policy b;
  b.min = 100ms;
  b.max = 1000ms;
  b.jitter = 0.5;
  CAF_CHECK_EQUAL(b.delay(1, 0.0).count(), 100);
  CAF_CHECK_EQUAL(b.delay(2, 0.0).count(), 200);
  CAF_CHECK_EQUAL(b.delay(5, 0.0).count(), 1000); // capped
  CAF_CHECK_EQUAL(b.delay(2, 1.0).count(), 300);  // + up to 50 % jitter
}

CAF_TEST(exceeding the intensity stops children and fails the supervisor) {
  auto spec = spec_of("root", restart_strategy::one_for_one, {worker(&j, "a"), worker(&j, "b")});
  spec.max_restarts = 2;
  start(spec);
  for (int i = 0; i < 2; ++i) {
    send("a", caf::make_message(crash_atom::value));
    pass(500ms);
  }
  CAF_CHECK_EQUAL(j.joined(), "stop:a start:a stop:a start:a");
  send("a", caf::make_message(crash_atom::value));
  CAF_CHECK_EQUAL(j.joined(), "stop:a start:a stop:a start:a stop:a stop:b");
  auto reason = down_reason();
  CAF_CHECK(reason != caf::none);
  CAF_CHECK(sys.render(reason).find("gave up") != std::string::npos);
  sup = nullptr;
}

CAF_TEST(escalation reaches the parent which restarts the subtree) {
  auto sub = spec_of("root/sub", restart_strategy::one_for_one, {worker(&j, "x"), worker(&j, "y")});
  sub.max_restarts = 0; // the first crash exceeds it
  start(spec_of("root", restart_strategy::one_for_one, {worker(&j, "a"), supervisor_child(sub)}));
  send("x", caf::make_message(crash_atom::value));
  CAF_CHECK_EQUAL(j.joined(), "stop:x stop:y");
  pass(100ms);
  CAF_CHECK_EQUAL(j.joined(), "stop:x stop:y start:x start:y");
  CAF_CHECK_EQUAL(state().children[1].restarts, 1);
  CAF_CHECK(state().children[1].last_reason.find("gave up") != std::string::npos);
  CAF_CHECK(state().children[0].status == child_status::running); // sibling untouched
}

CAF_TEST(a silent child is killed and restarted) {
  start(spec_of("root", restart_strategy::one_for_one, {worker(&j, "a", restart_type::permanent, 300ms)}));
  pass(1000ms); // heartbeats flowing: nothing happens
  CAF_CHECK_EQUAL(j.joined(), "");
  send("a", caf::make_message(quiet_atom::value));
  pass(500ms);
  CAF_CHECK_EQUAL(j.joined(), "stop:a start:a");
  CAF_CHECK(state().children[0].last_reason.find("heartbeat timeout") != std::string::npos);
  pass(1000ms); // the new instance beats again
  CAF_CHECK_EQUAL(j.joined(), "stop:a start:a");
}

CAF_TEST(a child that ignores the stop request is killed after its timeout) {
  start(spec_of("root", restart_strategy::one_for_one,
                {worker(&j, "a"), worker(&j, "stubborn", restart_type::permanent, 0ms, {true})}));
  caf::anon_send_exit(sup, caf::exit_reason::user_shutdown);
  sched.run();
  CAF_CHECK_EQUAL(j.joined(), ""); // waiting on the stubborn child
  advance_time(500ms);
  sched.run();
  CAF_CHECK_EQUAL(j.joined(), "stop:stubborn stop:a");
  CAF_CHECK_EQUAL(down_reason(), caf::exit_reason::user_shutdown);
  sup = nullptr;
}

CAF_TEST(the tree describes itself as json) {
  auto sub = spec_of("root/sub", restart_strategy::rest_for_one, {worker(&j, "x")});
  start(spec_of("root", restart_strategy::one_for_one, {worker(&j, "a"), supervisor_child(sub)}));
  send("x", caf::make_message(crash_atom::value));
  pass(100ms);
  auto h = self->request(sup, caf::infinite, tree_atom::value);
  sched.run();
  std::string text;
  h.receive([&](std::string& s) { text = s; }, [&](caf::error& e) { CAF_FAIL(sys.render(e)); });
  auto tree = nlohmann::json::parse(text);
  CAF_CHECK_EQUAL(tree["path"], "root");
  CAF_CHECK_EQUAL(tree["strategy"], "one_for_one");
  CAF_REQUIRE_EQUAL(tree["children"].size(), 2u);
  CAF_CHECK_EQUAL(tree["children"][0]["path"], "root/a");
  CAF_CHECK_EQUAL(tree["children"][0]["kind"], "worker");
  CAF_CHECK_EQUAL(tree["children"][0]["state"], "running");
  auto& subtree = tree["children"][1];
  CAF_CHECK_EQUAL(subtree["kind"], "supervisor");
  CAF_CHECK_EQUAL(subtree["strategy"], "rest_for_one");
  CAF_REQUIRE_EQUAL(subtree["children"].size(), 1u);
  auto& x = subtree["children"][0];
  CAF_CHECK_EQUAL(x["path"], "root/sub/x");
  CAF_CHECK_EQUAL(x["restarts"], 1);
  CAF_CHECK(x["last_reason"].get<std::string>().find("boom") != std::string::npos);
  CAF_CHECK(x["last_restart_at"].is_string());
}

CAF_TEST(injected faults crash or silence the named actor) {
  auto sub = spec_of("root/sub", restart_strategy::one_for_one,
                     {worker(&j, "x"), worker(&j, "y", restart_type::permanent, 300ms)});
  start(spec_of("root", restart_strategy::one_for_one, {supervisor_child(sub)}));
  auto crash =
      self->request(sup, caf::infinite, fault_atom::value, std::string{"root/sub/x"}, std::string{"crash"});
  sched.run();
  crash.receive([](std::string& ack) { CAF_CHECK(ack.find("\"accepted\":true") != std::string::npos); },
                [&](caf::error& e) { CAF_FAIL(sys.render(e)); });
  pass(100ms);
  CAF_CHECK_EQUAL(j.joined(), "stop:x start:x");
  auto hang =
      self->request(sup, caf::infinite, fault_atom::value, std::string{"root/sub/y"}, std::string{"hang"});
  sched.run();
  hang.receive([](std::string&) {}, [&](caf::error& e) { CAF_FAIL(sys.render(e)); });
  pass(600ms);
  CAF_CHECK_EQUAL(j.joined(), "stop:x start:x stop:y start:y");
  auto missing =
      self->request(sup, caf::infinite, fault_atom::value, std::string{"root/nope"}, std::string{"crash"});
  sched.run();
  missing.receive([](std::string&) { CAF_FAIL("expected an error"); },
                  [](caf::error& e) { CAF_CHECK(is(e, errc::no_such_actor)); });
}

CAF_TEST(a full mailbox sheds requests with an error the sender sees) {
  auto a = worker(&j, "a");
  a.mailbox_limit = 2;
  start(spec_of("root", restart_strategy::one_for_one, {a}));
  auto child = j.current.at("a");
  auto r1 = self->request(child, caf::infinite, ping_atom::value);
  auto r2 = self->request(child, caf::infinite, ping_atom::value);
  auto r3 = self->request(child, caf::infinite, ping_atom::value);
  // The third is refused at once, before the child runs at all.
  r3.receive([](int) { CAF_FAIL("the third request should have been shed"); },
             [](caf::error& e) { CAF_CHECK(is(e, errc::mailbox_full)); });
  sched.run();
  r1.receive([](int x) { CAF_CHECK_EQUAL(x, 1); }, [&](caf::error& e) { CAF_FAIL(sys.render(e)); });
  r2.receive([](int x) { CAF_CHECK_EQUAL(x, 1); }, [&](caf::error& e) { CAF_FAIL(sys.render(e)); });
  auto& stats = *state().children[0].stats;
  CAF_CHECK_EQUAL(stats.shed.load(), 1u);
  CAF_CHECK_EQUAL(stats.mailbox(), 0);
  CAF_CHECK_GREATER_OR_EQUAL(stats.handled.load(), 2u);
}

CAF_TEST_FIXTURE_SCOPE_END()
