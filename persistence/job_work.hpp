#pragma once

// The database side of the jobs: queueing reminders and surveys as outbox
// events (each at most once, whatever runs it concurrently), loading what a
// notification needs to be rendered, exports and pruning.

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace pqxx {
class connection_base;
}

namespace clean::persistence::job_work {

struct queue_counts {
  int64_t queued = 0;
  /// Already queued by someone else in the meantime (another instance).
  int64_t skipped = 0;
};

/// One `booking_reminder` email per scheduled booking starting within `lead_seconds`.
queue_counts queue_booking_reminders(pqxx::connection_base& conn, double lead_seconds, int batch);
/// The same as an SMS (kind `sms`) for customers with a phone.
queue_counts queue_booking_sms_reminders(pqxx::connection_base& conn, double lead_seconds, int batch);
/// One `invoice_reminder` per open, past-due invoice not reminded within `interval_seconds`.
queue_counts queue_invoice_reminders(pqxx::connection_base& conn, double interval_seconds, int batch);
/// One `nps_survey` email per completed booking's survey older than `delay_seconds`.
queue_counts queue_nps_surveys(pqxx::connection_base& conn, double delay_seconds, int batch);

/// Customer, booking, invoice and survey details for an email payload
/// (`booking_id`, `invoice_id` or `survey_id`). Throws std::invalid_argument
/// when the payload names nothing that exists.
nlohmann::json email_context(pqxx::connection_base& conn, const nlohmann::json& payload);

/// Header and row of one invoice, for a CSV/JSON export.
std::vector<std::vector<std::string>> invoice_export(pqxx::connection_base& conn, int64_t invoice_id);

int64_t prune_delivered_outbox(pqxx::connection_base& conn, int days);
int64_t prune_idempotency_keys(pqxx::connection_base& conn, int hours);

} // namespace clean::persistence::job_work
