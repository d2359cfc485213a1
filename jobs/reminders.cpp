// The jobs that queue notifications: each item becomes one outbox event
// with a dedupe key, so whoever queues it first wins and the rest skip.

#include "jobs/jobs.hpp"
#include "persistence/job_work.hpp"
#include "telemetry/metrics.hpp"

#include <fmt/format.h>
#include <prometheus/counter.h>

namespace clean::jobs {

namespace {

constexpr int batch = 500;

double seconds_of(std::chrono::milliseconds d) {
  return static_cast<double>(d.count()) / 1000.0;
}

job_result counted(job_context& ctx, const persistence::job_work::queue_counts& c, const char* what) {
  if (ctx.series && ctx.series->email_sent) {
    ctx.series->email_sent->Increment(static_cast<double>(c.queued));
    ctx.series->email_skipped->Increment(static_cast<double>(c.skipped));
  }
  return {c.queued, fmt::format("queued {} {} ({} already queued elsewhere)", c.queued, what, c.skipped)};
}

} // namespace

job_result booking_reminders(job_context& ctx) {
  auto lead = seconds_of(ctx.settings.booking_reminder_lead);
  auto c = persistence::job_work::queue_booking_reminders(ctx.conn, lead, batch);
  auto out = counted(ctx, c, "booking reminders");
  if (ctx.settings.sms_reminders) {
    // The SMS twins go through the same outbox, with their own dedupe keys.
    auto sms = persistence::job_work::queue_booking_sms_reminders(ctx.conn, lead, batch);
    out.items += sms.queued;
    out.summary +=
        fmt::format("; queued {} SMS reminders ({} already queued elsewhere)", sms.queued, sms.skipped);
  }
  return out;
}

job_result invoice_reminders(job_context& ctx) {
  auto c = persistence::job_work::queue_invoice_reminders(
      ctx.conn, seconds_of(ctx.settings.invoice_reminder_interval), batch);
  return counted(ctx, c, "invoice reminders");
}

job_result nps_send(job_context& ctx) {
  auto c = persistence::job_work::queue_nps_surveys(ctx.conn, seconds_of(ctx.settings.nps_send_delay), batch);
  return counted(ctx, c, "NPS surveys");
}

} // namespace clean::jobs
