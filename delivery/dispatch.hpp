#pragma once

// Delivers due outbox events: claims a batch (FOR UPDATE SKIP LOCKED, with
// a lease), delivers each — email through the file adapter, exports as
// files under STORAGE_DIR/exports — and records delivered / retry (with
// exponential backoff and jitter) / dead. Used by the outbox-dispatch and
// email-dlq jobs.

#include "delivery/templates.hpp"
#include "persistence/outbox.hpp"

#include <functional>
#include <string>

namespace pqxx {
class connection_base;
}

namespace clean::delivery {

struct dispatch_config {
  std::string email_file_dir = "var/mail";
  std::string email_from = "clean-service <no-reply@localhost>";
  std::string storage_dir = "var/storage";
  template_options templates;
  int email_max_attempts = 8;
  int export_max_attempts = 5;
};

struct dispatch_report {
  int64_t delivered = 0;
  int64_t duplicates = 0; // the sink already had it (a redelivery after a crash)
  int64_t skipped = 0;    // no longer applicable (e.g. reminder of a cancelled booking)
  int64_t retried = 0;
  int64_t dead = 0;
  int64_t handled() const { return delivered + duplicates + skipped + retried + dead; }
};

/// Called once per event with its kind and outcome (for metrics).
using outcome_sink = std::function<void(const std::string& kind, const std::string& outcome)>;

/// Delivers due events matching `sel` in batches until none are left (at
/// most `max_batches`); `heartbeat` runs between batches.
dispatch_report dispatch(pqxx::connection_base& conn, const dispatch_config& cfg,
                         const persistence::outbox_selector& sel, const std::function<void()>& heartbeat,
                         const outcome_sink& count, int max_batches = 100);

/// Seconds until retry `attempts` (1-based): 30 s doubling to an hour, ±20 %.
int64_t backoff_seconds(int attempts);

} // namespace clean::delivery
