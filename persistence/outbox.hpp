#pragma once

#include <nlohmann/json_fwd.hpp>

#include <string>

namespace pqxx {
class connection_base;
class transaction_base;
} // namespace pqxx

namespace clean::persistence {

/// The transactional outbox: follow-up work is written in the same
/// transaction as the change that causes it, and delivered later by the
/// outbox dispatcher. Writing an event whose dedupe key exists is a no-op.
class outbox {
public:
  static void prepare(pqxx::connection_base& conn);
  /// True when the event was new.
  static bool enqueue(pqxx::transaction_base& tx, const std::string& kind, const std::string& dedupe_key,
                      const nlohmann::json& payload);
  /// An email follow-up: `template_name` rendered for `customer_id`.
  static bool enqueue_email(pqxx::transaction_base& tx, const std::string& template_name,
                            const std::string& dedupe_key, const nlohmann::json& subject_ids);
};

} // namespace clean::persistence

#include <cstdint>
#include <vector>

namespace clean::persistence {

/// A due event claimed for delivery. While claimed, its next attempt is
/// pushed out by the lease, so a worker that dies mid-delivery leaves it
/// claimable again once the lease passes.
struct claimed_event {
  int64_t id = 0;
  std::string kind;
  std::string dedupe_key;
  std::string payload; // JSON
  int attempts = 0;    // including this one
};

struct outbox_selector {
  std::vector<std::string> statuses; // pending, retry
  std::vector<std::string> kinds;    // email, export, ...
  int limit = 50;
  int64_t lease_seconds = 300;
};

namespace outbox_delivery {
/// Claims up to `limit` due events (FOR UPDATE SKIP LOCKED) and commits.
std::vector<claimed_event> claim(pqxx::connection_base& conn, const outbox_selector& sel);
/// Outcomes of a claimed event. Each returns false when the claim was lost
/// (the lease ran out and another worker claimed the event since).
bool delivered(pqxx::connection_base& conn, const claimed_event& ev);
bool retry(pqxx::connection_base& conn, const claimed_event& ev, int64_t delay_seconds,
           const std::string& error);
bool dead(pqxx::connection_base& conn, const claimed_event& ev, const std::string& error);
/// Put back untouched for `delay_seconds`: the attempt is not counted.
bool defer(pqxx::connection_base& conn, const claimed_event& ev, int64_t delay_seconds);
/// Retry events of `kinds` at or past `max_attempts` are moved to dead.
int64_t bury_exhausted(pqxx::connection_base& conn, const std::string& kind, int max_attempts);
} // namespace outbox_delivery

} // namespace clean::persistence
