// The jobs that deliver: outbox-dispatch (new events of every kind and
// retries of non-email kinds) and email-dlq (email retries whose time has
// come, and burying those out of attempts).

#include "delivery/dispatch.hpp"
#include "jobs/jobs.hpp"
#include "persistence/outbox.hpp"
#include "telemetry/metrics.hpp"

#include <fmt/format.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>

namespace clean::jobs {

namespace {

delivery::dispatch_config dispatch_config_of(const job_context& ctx) {
  delivery::dispatch_config c;
  c.email_file_dir = ctx.settings.email_file_dir;
  c.email_from = ctx.settings.email_from;
  c.storage_dir = ctx.settings.storage_dir;
  c.templates.public_base_url = ctx.public_base_url;
  c.email_max_attempts = ctx.settings.email_max_attempts;
  c.send_email = ctx.send_email;
  c.send_sms = ctx.send_sms;
  c.sms_max_attempts = ctx.settings.sms_max_attempts;
  c.webhook_max_attempts = ctx.settings.webhook_max_attempts;
  if (!ctx.settings.webhook_url.empty())
    c.webhooks = std::make_shared<delivery::webhook_client>(
        ctx.settings.webhook_url, ctx.settings.webhook_secret, ctx.settings.webhook_timeout);
  c.export_max_attempts = ctx.settings.export_max_attempts;
  return c;
}

job_result run_dispatch(job_context& ctx, persistence::outbox_selector sel) {
  sel.lease_seconds = ctx.settings.lease.count();
  auto count = [&ctx](const std::string& kind, const std::string& outcome, const std::string& tmpl) {
    if (ctx.metrics && ctx.metrics->outbox_events)
      ctx.metrics->outbox_events->Add({{"kind", kind}, {"outcome", outcome}}).Increment();
    if (ctx.delivery)
      ctx.delivery->count_notification(tmpl, outcome);
    if (kind != "email" || !ctx.series || !ctx.series->email_sent || outcome == "lease_lost")
      return;
    if (outcome == "delivered")
      ctx.series->email_sent->Increment();
    else if (outcome == "duplicate" || outcome == "skipped" || outcome == "deferred")
      ctx.series->email_skipped->Increment();
    else
      ctx.series->email_error->Increment();
  };
  auto r = delivery::dispatch(ctx.conn, dispatch_config_of(ctx), sel, ctx.heartbeat, count);
  return {r.handled(), fmt::format("delivered {}, duplicates {}, skipped {}, retry {}, dead {}, deferred {}",
                                   r.delivered, r.duplicates, r.skipped, r.retried, r.dead, r.deferred)};
}

} // namespace

job_result outbox_dispatch(job_context& ctx) {
  job_result total;
  // New events of every kind first, then retries of the kinds email-dlq does not own.
  auto fresh = run_dispatch(ctx, {{"pending"}, {"email", "export", "sms", "webhook"}});
  auto retries = run_dispatch(ctx, {{"retry"}, {"export", "sms", "webhook"}});
  return {fresh.items + retries.items, "new: " + fresh.summary + "; retries: " + retries.summary};
}

job_result email_dlq(job_context& ctx) {
  auto buried =
      persistence::outbox_delivery::bury_exhausted(ctx.conn, "email", ctx.settings.email_max_attempts);
  if (ctx.metrics && ctx.metrics->outbox_events && buried > 0)
    ctx.metrics->outbox_events->Add({{"kind", "email"}, {"outcome", "dead"}})
        .Increment(static_cast<double>(buried));
  auto r = run_dispatch(ctx, {{"retry"}, {"email"}});
  r.items += buried;
  r.summary += fmt::format("; {} exhausted moved to dead", buried);
  return r;
}

} // namespace clean::jobs
