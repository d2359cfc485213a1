#pragma once

#include <stdexcept>
#include <string>

namespace clean::persistence {

/// A business rule said no (unknown id, wrong state, invalid reference).
/// Thrown inside a unit of work, which rolls back; the database actor turns
/// it into a `caf::error` for the caller.
class domain_error : public std::runtime_error {
public:
  enum class kind { not_found, conflict, invalid, unauthenticated, forbidden };

  domain_error(kind k, std::string code, const std::string& message, std::string field = {}) :
      std::runtime_error(message), kind_(k), code_(std::move(code)), field_(std::move(field)) {}

  kind what_kind() const { return kind_; }
  /// Machine-readable, e.g. "invalid_state".
  const std::string& code() const { return code_; }
  /// For `invalid`: the request field at fault.
  const std::string& field() const { return field_; }

private:
  kind kind_;
  std::string code_;
  std::string field_;
};

} // namespace clean::persistence
