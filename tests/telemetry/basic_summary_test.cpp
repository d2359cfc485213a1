#define CAF_SUITE telemetry.basic_summary
#include <caf/test/unit_test_impl.hpp>

#include "telemetry/basic_summary.hpp"
#include "telemetry/metrics.hpp"

#include <nlohmann/json.hpp>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>

using namespace clean::telemetry;

namespace {

struct fixture {
  metrics_registry registry{"test", true};
  const delivery_metrics& delivery = registry.delivery();
  const stripe_metrics& stripe = registry.stripe();

  nlohmann::json summary(double now = 1'000'000) { return basic_summary(registry.collect(), now); }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(basic_summary_tests, fixture)

CAF_TEST(a fresh process reports zeros and not missing keys) {
  auto s = summary();
  CAF_CHECK_EQUAL(s["reminders"]["sent"].get<int64_t>(), 0);
  CAF_CHECK_EQUAL(s["emails"]["dead"].get<int64_t>(), 0);
  CAF_CHECK_EQUAL(s["webhooks"]["invalid_signature"].get<int64_t>(), 0);
  CAF_CHECK_EQUAL(s["dead_letters"]["outbox"]["dead"].get<int64_t>(), 0);
  CAF_CHECK_EQUAL(s["dead_letters"]["email"]["pending"].get<int64_t>(), 0);
}

CAF_TEST(reminders count only the reminder templates) {
  delivery.count_notification("booking_reminder", "delivered");
  delivery.count_notification("invoice_reminder", "delivered");
  delivery.count_notification("invoice_reminder", "retry");
  delivery.count_notification("invoice_reminder", "dead");
  delivery.count_notification("booking_confirmation", "delivered");
  auto s = summary();
  CAF_CHECK_EQUAL(s["reminders"]["sent"].get<int64_t>(), 2);
  CAF_CHECK_EQUAL(s["reminders"]["failed"].get<int64_t>(), 2);
  CAF_CHECK_EQUAL(s["emails"]["delivered"].get<int64_t>(), 3);
  CAF_CHECK_EQUAL(s["emails"]["failed"].get<int64_t>(), 1);
  CAF_CHECK_EQUAL(s["emails"]["dead"].get<int64_t>(), 1);
}

CAF_TEST(webhook outcomes dead letters and breakers) {
  stripe.count("applied", 0.01);
  stripe.count("invalid_signature", 0.01);
  stripe.count("invalid_signature", 0.01);
  delivery.email_dlq->Add({{"status", "dead"}}).Set(4);
  delivery.outbox_queue->Add({{"status", "retry"}}).Set(2);
  delivery.track_circuit("email", 0);
  delivery.circuit_changed("email", "open", 1);
  delivery.track_circuit("stripe", 2);
  auto s = summary();
  CAF_CHECK_EQUAL(s["webhooks"]["applied"].get<int64_t>(), 1);
  CAF_CHECK_EQUAL(s["webhooks"]["invalid_signature"].get<int64_t>(), 2);
  CAF_CHECK_EQUAL(s["dead_letters"]["email"]["dead"].get<int64_t>(), 4);
  CAF_CHECK_EQUAL(s["dead_letters"]["outbox"]["retry"].get<int64_t>(), 2);
  CAF_CHECK_EQUAL(s["circuits"]["email"].get<std::string>(), "open");
  CAF_CHECK_EQUAL(s["circuits"]["stripe"].get<std::string>(), "half_open");
}

CAF_TEST(job freshness is an age and null before the first success) {
  const auto* backup = registry.jobs().find("backup");
  CAF_REQUIRE(backup != nullptr);
  backup->last_heartbeat->Set(999'990);
  backup->up->Set(1);
  auto s = summary(1'000'000);
  CAF_CHECK_EQUAL(s["jobs"]["backup"]["heartbeat_age_seconds"].get<double>(), 10);
  CAF_CHECK(s["jobs"]["backup"]["seconds_since_success"].is_null());
  CAF_CHECK(s["jobs"]["backup"]["up"].get<bool>());
  backup->last_success->Set(1'000'000 - 3600);
  CAF_CHECK_EQUAL(summary(1'000'000)["jobs"]["backup"]["seconds_since_success"].get<double>(), 3600);
}

CAF_TEST(circuit transitions exist at zero once a breaker is tracked) {
  delivery.track_circuit("sms", 0);
  auto text = registry.render();
  CAF_CHECK(text.find("circuit_transitions_total{circuit=\"sms\",to=\"open\"} 0") != std::string::npos);
  delivery.circuit_changed("sms", "open", 1);
  text = registry.render();
  CAF_CHECK(text.find("circuit_transitions_total{circuit=\"sms\",to=\"open\"} 1") != std::string::npos);
  CAF_CHECK(text.find("circuit_state{circuit=\"sms\"} 1") != std::string::npos);
}

CAF_TEST_FIXTURE_SCOPE_END()
