#define CAF_SUITE actors.stripe_webhook
#include <caf/test/unit_test_impl.hpp>

#include <caf/test/dsl.hpp>

#include "actors/stripe_webhook.hpp"

#include <deque>

using namespace clean;
using namespace std::chrono_literals;

namespace {

/// Stands in for the pool: keeps every batch it is given until the test
/// answers it, so batching is observable step by step.
struct pool_log {
  struct call {
    std::vector<std::string> bodies;
    caf::response_promise promise;
  };
  std::deque<call> calls;
};

using answer_atom = caf::atom_constant<caf::atom("answer")>;

/// Promises are kept by the actor that made them: the test asks the fake
/// pool to answer call `index`, with a result or an error.
caf::behavior fake_pool(caf::event_based_actor* self, pool_log* log) {
  return {
      [self, log](db_call& c) {
        auto rp = self->make_response_promise();
        log->calls.push_back({c.payload.get_as<std::vector<std::string>>(1), rp});
        return rp;
      },
      [log](answer_atom, size_t index, stripe_batch_result& r) {
        log->calls[index].promise.deliver(std::move(r));
      },
      [log](answer_atom, size_t index, caf::error& e) { log->calls[index].promise.deliver(std::move(e)); },
  };
}

persistence::stripe_receipt receipt(const std::string& body) {
  persistence::stripe_receipt r;
  r.result = "applied";
  r.event_id = body;
  return r;
}

struct fixture : test_coordinator_fixture<> {
  pool_log log;
  caf::actor pool;
  caf::actor webhook;

  fixture() {
    pool = sys.spawn(fake_pool, &log);
    stripe_webhook_config cfg;
    cfg.pool = [this] {
      return pool;
    };
    cfg.max_batches_in_flight = 1;
    cfg.max_batch = 3;
    cfg.breaker.window = 10;
    cfg.breaker.minimum_calls = 10;
    cfg.tick_interval = 1h;
    webhook = sys.spawn(stripe_webhook, cfg, supervised_context{});
    sched.run();
  }

  ~fixture() override {
    for (auto a : {webhook, pool})
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    sched.run();
  }

  using outcome = std::shared_ptr<std::string>;

  /// What delivery i of an answered group came to: its event id, or
  /// "error:<detail code>".
  static std::string outcome_of(const stripe_delivery_answers& a, size_t i) {
    return a.errors[i] ? "error:" + detail_of(a.errors[i]).code : a.receipts[i].event_id;
  }

  /// A lone delivery (a group of one) from its own client actor; the
  /// outcome fills in when the webhook actor answers.
  outcome deliver(const std::string& body) {
    auto out = std::make_shared<std::string>();
    sys.spawn([this, body, out](caf::event_based_actor* client) {
      client
          ->request(webhook, caf::infinite, stripe_rx_many_atom::value, std::vector<std::string>{body},
                    std::vector<int64_t>{0})
          .then([out](stripe_delivery_answers& a) { *out = outcome_of(a, 0); },
                [out](caf::error& e) { *out = "error:" + detail_of(e).code; });
    });
    sched.run();
    return out;
  }

  using outcomes = std::shared_ptr<std::vector<std::string>>;

  /// A group of deliveries (one HTTP event-loop pass) from one client; the
  /// outcomes fill in, position by position, when the group is answered.
  outcomes deliver_group(std::vector<std::string> bodies) {
    auto out = std::make_shared<std::vector<std::string>>();
    std::vector<int64_t> deadlines(bodies.size(), 0);
    sys.spawn([this, bodies, deadlines, out](caf::event_based_actor* client) {
      client->request(webhook, caf::infinite, stripe_rx_many_atom::value, bodies, deadlines)
          .then(
              [out](stripe_delivery_answers& a) {
                for (size_t i = 0; i < a.receipts.size(); ++i)
                  out->push_back(outcome_of(a, i));
              },
              [out](caf::error& e) { out->push_back("group error:" + detail_of(e).code); });
    });
    sched.run();
    return out;
  }

  template <class Answer>
  void answer(size_t index, Answer a) {
    caf::anon_send(pool, answer_atom::value, index, std::move(a));
    sched.run();
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(stripe_webhook_tests, fixture)

CAF_TEST(an idle actor sends a delivery on at once) {
  auto h = deliver("evt_1");
  CAF_REQUIRE_EQUAL(log.calls.size(), 1u);
  CAF_CHECK_EQUAL(log.calls[0].bodies, std::vector<std::string>{"evt_1"});
  answer(0, stripe_batch_result{{receipt("evt_1")}, {""}});
  CAF_CHECK_EQUAL(*h, "evt_1");
}

CAF_TEST(deliveries arriving during a batch go together in the next) {
  auto first = deliver("evt_1");
  std::vector<outcome> waiting;
  for (auto id : {"evt_2", "evt_3", "evt_4", "evt_5"})
    waiting.push_back(deliver(id));
  // One batch at the database: the others wait, nothing is sent yet.
  CAF_REQUIRE_EQUAL(log.calls.size(), 1u);
  answer(0, stripe_batch_result{{receipt("evt_1")}, {""}});
  CAF_CHECK_EQUAL(*first, "evt_1");
  // The next batch takes up to max_batch (3) of them, in arrival order.
  CAF_REQUIRE_EQUAL(log.calls.size(), 2u);
  CAF_CHECK_EQUAL(log.calls[1].bodies, (std::vector<std::string>{"evt_2", "evt_3", "evt_4"}));
  // Each delivery gets its own outcome.
  answer(1, stripe_batch_result{{receipt("evt_2"), {}, receipt("evt_4")}, {"", "bad row", ""}});
  CAF_CHECK_EQUAL(*waiting[0], "evt_2");
  CAF_CHECK_EQUAL(*waiting[1], "error:processing_error");
  CAF_CHECK_EQUAL(*waiting[2], "evt_4");
  CAF_REQUIRE_EQUAL(log.calls.size(), 3u);
  CAF_CHECK_EQUAL(log.calls[2].bodies, std::vector<std::string>{"evt_5"});
  answer(2, stripe_batch_result{{receipt("evt_5")}, {""}});
  CAF_CHECK_EQUAL(*waiting[3], "evt_5");
}

CAF_TEST(a failed batch fails each of its deliveries and the next batch still goes) {
  auto first = deliver("evt_1");
  auto second = deliver("evt_2");
  answer(0, make_error(errc::database_unavailable, "database_unavailable", "down"));
  CAF_CHECK_EQUAL(*first, "error:database_unavailable");
  CAF_REQUIRE_EQUAL(log.calls.size(), 2u);
  answer(1, stripe_batch_result{{receipt("evt_2")}, {""}});
  CAF_CHECK_EQUAL(*second, "evt_2");
}

CAF_TEST(a group goes to the database in one batch and each delivery keeps its own outcome) {
  auto out = deliver_group({"evt_1", "evt_2"});
  CAF_REQUIRE_EQUAL(log.calls.size(), 1u);
  CAF_CHECK_EQUAL(log.calls[0].bodies, (std::vector<std::string>{"evt_1", "evt_2"}));
  CAF_CHECK(out->empty());
  answer(0, stripe_batch_result{{receipt("evt_1"), {}}, {"", "bad row"}});
  CAF_CHECK_EQUAL(*out, (std::vector<std::string>{"evt_1", "error:processing_error"}));
}

CAF_TEST(a group split across batches is answered once its last delivery is settled) {
  auto first = deliver("evt_0");
  auto out = deliver_group({"evt_1", "evt_2", "evt_3", "evt_4"});
  answer(0, stripe_batch_result{{receipt("evt_0")}, {""}});
  CAF_CHECK_EQUAL(*first, "evt_0");
  // max_batch is 3: the group's fourth delivery waits for the next batch.
  CAF_REQUIRE_EQUAL(log.calls.size(), 2u);
  CAF_CHECK_EQUAL(log.calls[1].bodies, (std::vector<std::string>{"evt_1", "evt_2", "evt_3"}));
  answer(1, stripe_batch_result{{receipt("evt_1"), receipt("evt_2"), receipt("evt_3")}, {"", "", ""}});
  CAF_CHECK(out->empty());
  CAF_REQUIRE_EQUAL(log.calls.size(), 3u);
  CAF_CHECK_EQUAL(log.calls[2].bodies, std::vector<std::string>{"evt_4"});
  answer(2, make_error(errc::database_unavailable, "database_unavailable", "down"));
  CAF_CHECK_EQUAL(*out, (std::vector<std::string>{"evt_1", "evt_2", "evt_3", "error:database_unavailable"}));
}

CAF_TEST(a batch does not take the first part of a group) {
  auto first = deliver("evt_0");
  auto a = deliver("evt_a");
  auto b = deliver("evt_b");
  auto group = deliver_group({"evt_c", "evt_d"});
  answer(0, stripe_batch_result{{receipt("evt_0")}, {""}});
  // max_batch is 3, but evt_c alone would leave the group's answer waiting.
  CAF_REQUIRE_EQUAL(log.calls.size(), 2u);
  CAF_CHECK_EQUAL(log.calls[1].bodies, (std::vector<std::string>{"evt_a", "evt_b"}));
  answer(1, stripe_batch_result{{receipt("evt_a"), receipt("evt_b")}, {"", ""}});
  CAF_CHECK_EQUAL(*a, "evt_a");
  CAF_CHECK_EQUAL(*b, "evt_b");
  CAF_REQUIRE_EQUAL(log.calls.size(), 3u);
  CAF_CHECK_EQUAL(log.calls[2].bodies, (std::vector<std::string>{"evt_c", "evt_d"}));
  answer(2, stripe_batch_result{{receipt("evt_c"), receipt("evt_d")}, {"", ""}});
  CAF_CHECK_EQUAL(*group, (std::vector<std::string>{"evt_c", "evt_d"}));
}

CAF_TEST(an empty group is answered at once) {
  std::vector<std::string> out;
  sys.spawn([this, &out](caf::event_based_actor* client) {
    client
        ->request(webhook, caf::infinite, stripe_rx_many_atom::value, std::vector<std::string>{},
                  std::vector<int64_t>{})
        .then(
            [&out](stripe_delivery_answers& a) {
              out.push_back("answered " + std::to_string(a.receipts.size()));
            },
            [&out](caf::error& e) { out.push_back(detail_of(e).code); });
  });
  sched.run();
  CAF_CHECK_EQUAL(out, std::vector<std::string>{"answered 0"});
  CAF_CHECK(log.calls.empty());
}

CAF_TEST(an open breaker refuses every delivery of a group at once) {
  // Ten failed deliveries (minimum_calls, window 10) open the breaker.
  auto failing = deliver_group({"f0", "f1", "f2", "f3", "f4", "f5", "f6", "f7", "f8", "f9"});
  for (size_t i = 0; i < log.calls.size(); ++i)
    answer(i, make_error(errc::database_unavailable, "database_unavailable", "down"));
  CAF_REQUIRE_EQUAL(failing->size(), 10u);
  auto calls_before = log.calls.size();
  auto out = deliver_group({"evt_1", "evt_2"});
  CAF_CHECK_EQUAL(*out, (std::vector<std::string>{"error:circuit_open", "error:circuit_open"}));
  CAF_CHECK_EQUAL(log.calls.size(), calls_before);
}

CAF_TEST(a group without a deadline for each delivery is refused whole) {
  std::vector<std::string> out;
  sys.spawn([this, &out](caf::event_based_actor* client) {
    client
        ->request(webhook, caf::infinite, stripe_rx_many_atom::value, std::vector<std::string>{"evt_1"},
                  std::vector<int64_t>{})
        .then([&out](stripe_delivery_answers&) { out.push_back("answered"); },
              [&out](caf::error& e) { out.push_back(detail_of(e).code); });
  });
  sched.run();
  CAF_CHECK_EQUAL(out, std::vector<std::string>{"processing_error"});
  CAF_CHECK(log.calls.empty());
}

CAF_TEST_FIXTURE_SCOPE_END()
