#define CAF_SUITE actors.email
#include <caf/test/unit_test_impl.hpp>

#include <caf/test/dsl.hpp>

#include "actors/email.hpp"

#include <nlohmann/json.hpp>

#include <deque>

using namespace clean;
using namespace std::chrono_literals;
using delivery::send_status;

namespace {

/// What the fake provider answers, in order (then `sent`).
struct script {
  std::deque<send_status> answers;
  int calls = 0;
};

class fake_adapter : public delivery::mail_adapter {
public:
  explicit fake_adapter(script* s) : s_(s) {}
  delivery::send_outcome send(const delivery::outbound_email&) override {
    ++s_->calls;
    auto status = send_status::sent;
    if (!s_->answers.empty()) {
      status = s_->answers.front();
      s_->answers.pop_front();
    }
    return {status, "scripted", 0};
  }
  const char* name() const override { return "fake"; }

private:
  script* s_;
};

struct fixture : test_coordinator_fixture<> {
  script provider;
  email_actor mailer;
  std::shared_ptr<circuit_board> board = std::make_shared<circuit_board>();

  fixture() {
    email_config cfg;
    cfg.make_adapter = [this] {
      return std::make_unique<fake_adapter>(&provider);
    };
    cfg.breaker.window = 4;
    cfg.breaker.minimum_calls = 2;
    cfg.breaker.failure_rate_percent = 50;
    cfg.breaker.open_for = 5s;
    cfg.breaker.half_open_calls = 1;
    cfg.board = board;
    cfg.tick_interval = 1s;
    cfg.sync_grace = 10s;
    mailer = sys.spawn(email, cfg, supervised_context{});
    sched.run();
  }

  ~fixture() override {
    caf::anon_send_exit(mailer, caf::exit_reason::user_shutdown);
    sched.run();
  }

  delivery::email_send_result send() {
    delivery::outbound_email m;
    m.message_id = "<x@clean-service>";
    auto h = self->request(mailer, 1s, send_atom::value, m);
    sched.run();
    delivery::email_send_result out;
    h.receive([&](delivery::email_send_result& r) { out = std::move(r); },
              [&](caf::error& e) { CAF_FAIL("send failed: " << sys.render(e)); });
    return out;
  }

  std::string control(const std::string& action) {
    auto h = self->request(mailer, 1s, circuit_ctl_atom::value, action, std::string{"oncall"});
    sched.run();
    std::string out;
    h.receive([&](std::string& s) { out = std::move(s); },
              [&](caf::error& e) { CAF_FAIL("control failed: " << sys.render(e)); });
    return nlohmann::json::parse(out)["state"].get<std::string>();
  }

  std::string published_state() {
    auto all = board->snapshots();
    CAF_REQUIRE_EQUAL(all.size(), 1u);
    return nlohmann::json::parse(all[0])["state"].get<std::string>();
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(email_tests, fixture)

CAF_TEST(sends go to the provider and its answer comes back) {
  provider.answers = {send_status::sent, send_status::rejected};
  CAF_CHECK(send().outcome.status == send_status::sent);
  auto r = send();
  CAF_CHECK(!r.deferred);
  CAF_CHECK(r.outcome.status == send_status::rejected);
  CAF_CHECK_EQUAL(provider.calls, 2);
  // A rejection is about the message, not the provider: still closed.
  CAF_CHECK_EQUAL(published_state(), "closed");
}

CAF_TEST(provider failures open the breaker and later sends are deferred untried) {
  provider.answers = {send_status::failed, send_status::timeout};
  send();
  send();
  CAF_CHECK_EQUAL(published_state(), "open");
  auto r = send();
  CAF_CHECK(r.deferred);
  CAF_CHECK_EQUAL(r.retry_after, 5000ms);
  CAF_CHECK_EQUAL(provider.calls, 2); // not tried
  // Time alone turns it half-open (the tick republishes the state).
  advance_time(5s);
  sched.run();
  CAF_CHECK_EQUAL(published_state(), "half_open");
  auto trial = send();
  CAF_CHECK(!trial.deferred);
  CAF_CHECK_EQUAL(provider.calls, 3);
  CAF_CHECK_EQUAL(published_state(), "closed");
}

CAF_TEST(on_call forces the breaker and resets it) {
  CAF_CHECK_EQUAL(control("force-open"), "forced_open");
  CAF_CHECK(send().deferred);
  CAF_CHECK_EQUAL(provider.calls, 0);
  CAF_CHECK_EQUAL(control("force-closed"), "forced_closed");
  provider.answers = {send_status::failed, send_status::failed, send_status::failed};
  for (int i = 0; i < 3; ++i)
    CAF_CHECK(!send().deferred); // forced closed: every call goes out
  CAF_CHECK_EQUAL(control("reset"), "closed");
}

CAF_TEST(overrides from the database are followed after the grace period) {
  persistence::circuit_override o{"email", "forced_open", "oncall", "INC-1", 0};
  caf::anon_send(mailer, circuit_sync_atom::value, std::vector<persistence::circuit_override>{o});
  sched.run();
  CAF_CHECK_EQUAL(published_state(), "forced_open");
  // Cleared on another instance: this one follows.
  caf::anon_send(mailer, circuit_sync_atom::value, std::vector<persistence::circuit_override>{});
  sched.run();
  CAF_CHECK_EQUAL(published_state(), "closed");
  // A local change wins over a sample taken before it.
  CAF_CHECK_EQUAL(control("force-open"), "forced_open");
  caf::anon_send(mailer, circuit_sync_atom::value, std::vector<persistence::circuit_override>{});
  sched.run();
  CAF_CHECK_EQUAL(published_state(), "forced_open");
  advance_time(11s);
  sched.run();
  caf::anon_send(mailer, circuit_sync_atom::value, std::vector<persistence::circuit_override>{});
  sched.run();
  CAF_CHECK_EQUAL(published_state(), "closed");
}

CAF_TEST_FIXTURE_SCOPE_END()
