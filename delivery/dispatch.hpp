#pragma once

// Delivers due outbox events: claims a batch (FOR UPDATE SKIP LOCKED, with
// a lease), delivers each — email through `send_email` (the email actor and
// its breaker), exports as files under STORAGE_DIR/exports — and records
// delivered / retry (exponential backoff with jitter) / dead / deferred.
// Used by the outbox-dispatch and email-dlq jobs.

#include "delivery/mail_adapters.hpp"
#include "delivery/templates.hpp"
#include "delivery/webhooks.hpp"
#include "persistence/outbox.hpp"

#include <chrono>
#include <functional>
#include <memory>
#include <string>

namespace pqxx {
class connection_base;
}

namespace clean::delivery {

/// What became of one send: the provider's outcome, or deferred (the
/// breaker is open or the sender is restarting) — then nothing was tried
/// and no attempt is used up.
struct email_send_result {
  send_outcome outcome;
  bool deferred = false;
  std::chrono::milliseconds retry_after{0};
};

using email_sender = std::function<email_send_result(const outbound_email&)>;

struct dispatch_config {
  /// Sends one email. Unset: email events are deferred (nothing can send).
  email_sender send_email;
  /// Sends one SMS (to_address is the phone, text the message). Unset: SMS
  /// events are deferred.
  email_sender send_sms;
  /// POSTs integration webhooks (INTEGRATION_WEBHOOK_URL). Null: webhook
  /// events are skipped (the integration was switched off since).
  std::shared_ptr<webhook_client> webhooks;
  std::string email_file_dir = "var/mail";
  std::string email_from = "clean-service <no-reply@localhost>";
  std::string storage_dir = "var/storage";
  template_options templates;
  int email_max_attempts = 8;
  int export_max_attempts = 5;
  int sms_max_attempts = 8;
  int webhook_max_attempts = 10;
};

struct dispatch_report {
  int64_t delivered = 0;
  int64_t duplicates = 0; // the sink already had it (a redelivery after a crash)
  int64_t skipped = 0;    // no longer applicable (e.g. reminder of a cancelled booking)
  int64_t retried = 0;
  int64_t dead = 0;
  int64_t deferred = 0;      // breaker open: put back untouched, no attempt used
  int64_t defer_seconds = 1; // the wait the last deferral asked for
  int64_t handled() const { return delivered + duplicates + skipped + retried + dead; }
};

/// Called once per event with its kind, outcome (delivered, duplicate,
/// skipped, retry, dead, deferred, lease_lost) and, for email, its template.
using outcome_sink = std::function<void(const std::string& kind, const std::string& outcome,
                                        const std::string& template_name)>;

/// Delivers due events matching `sel` in batches until none are left (at
/// most `max_batches`); `heartbeat` runs between batches.
dispatch_report dispatch(pqxx::connection_base& conn, const dispatch_config& cfg,
                         const persistence::outbox_selector& sel, const std::function<void()>& heartbeat,
                         const outcome_sink& count, int max_batches = 100);

/// Seconds until retry `attempts` (1-based): 30 s doubling to an hour, ±20 %.
int64_t backoff_seconds(int attempts);

} // namespace clean::delivery
