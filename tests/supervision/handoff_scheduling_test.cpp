#define CAF_SUITE supervision.handoff_scheduling
#include <caf/test/unit_test_impl.hpp>

// The scheduling policy itself is under test here, so these run on a real
// actor system built by actor_config (two workers), not on the DSL's
// deterministic coordinator. Nothing here measures time: each check is
// about what gets to run at all.

#include "supervision/actor_config.hpp"

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/stateful_actor.hpp>

#include <memory>
#include <thread>
#include <vector>

using namespace clean;
using namespace std::chrono_literals;

namespace {

using echo_atom = caf::atom_constant<caf::atom("echo")>;
using go_atom = caf::atom_constant<caf::atom("go")>;
using done_atom = caf::atom_constant<caf::atom("done")>;

caf::behavior echo(caf::event_based_actor*) {
  return {[](echo_atom, int64_t x) {
    return x;
  }};
}

struct caller_state {
  int64_t left = 0;
  caf::actor server;
  caf::actor done_to;
};

/// One request at a time until `left` is used up (or forever when it
/// starts negative), then tells `done_to`.
void call_next(caf::stateful_actor<caller_state>* self) {
  auto& st = self->state;
  if (st.left == 0) {
    self->send(st.done_to, done_atom::value);
    return;
  }
  --st.left;
  self->request(st.server, caf::infinite, echo_atom::value, st.left).then([self](int64_t) {
    call_next(self);
  });
}

caf::behavior caller(caf::stateful_actor<caller_state>* self, caf::actor server, int64_t calls,
                     caf::actor done_to) {
  self->state = caller_state{calls, std::move(server), std::move(done_to)};
  return {[self](go_atom) {
    call_next(self);
  }};
}

struct fixture {
  config::settings settings;
  caf::actor_system_config cfg = supervision::actor_config(settings);
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(handoff_scheduling_tests, fixture)

CAF_TEST(request and response round trips all complete) {
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  auto server = sys.spawn(echo);
  auto a = sys.spawn(caller, server, int64_t{20000}, caf::actor{self});
  auto b = sys.spawn(caller, server, int64_t{20000}, caf::actor{self});
  self->send(a, go_atom::value);
  self->send(b, go_atom::value);
  int finished = 0;
  for (int i = 0; i < 2; ++i)
    self->receive([&](done_atom) { ++finished; }, caf::after(std::chrono::seconds(30)) >> [] {});
  CAF_CHECK_EQUAL(finished, 2);
  self->send_exit(a, caf::exit_reason::user_shutdown);
  self->send_exit(b, caf::exit_reason::user_shutdown);
  self->send_exit(server, caf::exit_reason::user_shutdown);
}

// Each pair keeps a worker busy handing work back and forth through its
// slot. Were the slot allowed to jump the central queue, both workers would
// stay in their pair forever and a message from outside would never run.
CAF_TEST(pairs calling each other forever do not starve outside work) {
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  std::vector<caf::actor> busy;
  for (int i = 0; i < 2; ++i) {
    auto server = sys.spawn(echo);
    auto client = sys.spawn(caller, server, int64_t{-1}, caf::actor{self});
    self->send(client, go_atom::value);
    busy.push_back(server);
    busy.push_back(client);
  }
  auto bystander = sys.spawn(echo);
  int64_t answer = 0;
  self->request(bystander, std::chrono::seconds(10), echo_atom::value, int64_t{42})
      .receive([&](int64_t x) { answer = x; }, [](caf::error&) {});
  CAF_CHECK_EQUAL(answer, 42);
  for (auto& a : busy)
    self->send_exit(a, caf::exit_reason::user_shutdown);
}

// A response promise kept by an actor and delivered from a thread that is
// no worker: the requester is made runnable through the context of the
// actor, which points at a worker whose slot this thread must not touch.
CAF_TEST(a response delivered from a foreign thread reaches its requester) {
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  // Joined before the system goes: a thread still inside deliver() must not
  // outlive it.
  auto threads = std::make_shared<std::vector<std::thread>>();
  auto deferring = sys.spawn([threads](caf::event_based_actor* me) -> caf::behavior {
    return {[me, threads](echo_atom, int64_t x) {
      auto promise = me->make_response_promise<int64_t>();
      threads->emplace_back([promise, x]() mutable { promise.deliver(x); });
      return promise;
    }};
  });
  auto client = sys.spawn(caller, deferring, int64_t{200}, caf::actor{self});
  self->send(client, go_atom::value);
  bool done = false;
  self->receive([&](done_atom) { done = true; }, caf::after(std::chrono::seconds(30)) >> [] {});
  CAF_CHECK(done);
  self->send_exit(client, caf::exit_reason::user_shutdown);
  self->send_exit(deferring, caf::exit_reason::user_shutdown);
  self->wait_for(deferring); // no more threads are added after this
  for (auto& t : *threads)
    t.join();
}

CAF_TEST_FIXTURE_SCOPE_END()
