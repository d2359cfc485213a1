#include "jobs/jobs.hpp"

namespace clean::jobs {

const std::vector<job_definition>& all_jobs() {
  // Same order and names as config::job_catalogue().
  static const std::vector<job_definition> jobs{
      {"booking-reminders", "queue a reminder email for each booking within BOOKING_REMINDER_LEAD_HOURS",
       booking_reminders},
      {"invoice-reminders",
       "queue a reminder for each overdue open invoice, once per INVOICE_REMINDER_INTERVAL_HOURS",
       invoice_reminders},
      {"nps-send", "queue the NPS survey of each completed booking after NPS_SEND_DELAY_MINUTES", nps_send},
      {"email-dlq", "retry emails waiting for retry whose time has come; bury exhausted ones as dead",
       email_dlq},
      {"outbox-dispatch", "deliver due outbox events (email, exports)", outbox_dispatch},
      {"storage-janitor", "delete old exports and backups, prune delivered outbox rows and idempotency keys",
       storage_janitor},
      {"backup", "pg_dump into STORAGE_DIR/backups, verified with pg_restore --list", backup},
      {"stripe-reconcile", "apply Stripe events it could not deliver (its events API, STRIPE_API_KEY)",
       stripe_reconcile},
  };
  return jobs;
}

const job_definition* find_job(const std::string& name) {
  for (const auto& j : all_jobs())
    if (j.name == name)
      return &j;
  return nullptr;
}

} // namespace clean::jobs
