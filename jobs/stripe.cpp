// stripe-reconcile: events Stripe could not deliver (our endpoint was down
// past Stripe's retries, or misconfigured) are listed through Stripe's API
// and applied through the same idempotent path as a webhook delivery, so an
// event seen both ways is applied once.

#include "delivery/circuit_breaker.hpp"
#include "delivery/stripe_api.hpp"
#include "jobs/jobs.hpp"
#include "persistence/dead_letters.hpp"
#include "persistence/stripe_events.hpp"
#include "telemetry/metrics.hpp"

#include <fmt/format.h>
#include <pqxx/pqxx>
#include <prometheus/family.h>
#include <prometheus/gauge.h>

namespace clean::jobs {

namespace {

constexpr const char* circuit = "stripe_api";
constexpr int max_pages = 50;
using clock = std::chrono::steady_clock;

/// On-call's stored override binds this breaker too.
void follow_overrides(job_context& ctx, circuit_breaker& breaker) {
  pqxx::nontransaction tx{ctx.conn};
  breaker.follow(persistence::circuit_overrides::all(tx), clock::now());
}

void publish(job_context& ctx, circuit_breaker& breaker) {
  auto now = clock::now();
  if (ctx.delivery)
    ctx.delivery->track_circuit(circuit, gauge_value(breaker.state(now)));
  if (ctx.board) {
    auto snap = breaker.snapshot(now);
    snap["adapter"] = "stripe_api";
    ctx.board->publish(circuit, snap.dump());
  }
}

} // namespace

job_result stripe_reconcile(job_context& ctx) {
  const auto& s = ctx.settings;
  if (s.stripe_api_key.empty())
    return {0, "STRIPE_API_KEY is unset: nothing to reconcile"};
  auto breaker =
      ctx.stripe_api ? ctx.stripe_api : std::make_shared<circuit_breaker>(circuit, s.stripe_api_breaker);
  follow_overrides(ctx, *breaker);
  delivery::stripe_api_client api{s.stripe_api_base_url, s.stripe_api_key, s.stripe_api_timeout};
  auto since =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
          .count() -
      s.stripe_reconcile_lookback.count();
  std::map<std::string, int64_t> results;
  std::string after;
  for (int page_no = 0; page_no < max_pages; ++page_no) {
    if (!breaker->try_acquire(clock::now())) {
      publish(ctx, *breaker);
      throw job_failure("stripe_api", "the stripe_api circuit breaker is open; Stripe's API is not called");
    }
    auto page = api.undelivered_events(since, after);
    if (page.outcome.status != delivery::send_status::sent) {
      if (delivery::counts_against_provider(page.outcome.status))
        breaker->on_failure(clock::now());
      else
        breaker->on_success(clock::now());
      publish(ctx, *breaker);
      throw job_failure("stripe_api", "listing Stripe events failed: " + page.outcome.detail);
    }
    breaker->on_success(clock::now());
    for (const auto& ev : page.events) {
      pqxx::work tx{ctx.conn};
      auto r = persistence::stripe_events::receive(tx, ev.dump());
      tx.commit();
      ++results[r.result];
      if (ev.contains("id") && ev["id"].is_string())
        after = ev["id"].get<std::string>();
      if (ctx.heartbeat)
        ctx.heartbeat();
    }
    if (!page.has_more || page.events.empty())
      break;
  }
  publish(ctx, *breaker);
  return {results["applied"],
          fmt::format("applied {}, already received {}, ignored {}, mismatched {}", results["applied"],
                      results["duplicate"], results["ignored"], results["payload_mismatch"])};
}

} // namespace clean::jobs
