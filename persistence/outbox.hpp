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
