#pragma once

// Validation of API input: JSON bodies and list query strings become the
// typed inputs of persistence/records.hpp, or a list of per-field errors.
// Pure functions (no actors, no I/O), unit-tested on their own.

#include "persistence/records.hpp"
#include "persistence/stripe_events.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace clean::http {

struct field_error {
  std::string field;
  std::string message;
};

/// Either a value, or why not: `malformed` (400: not a JSON object) or
/// `errors` (422: one entry per bad field).
template <class T>
struct validated {
  std::optional<T> value;
  std::string malformed;
  std::vector<field_error> errors;
};

validated<persistence::customer_input> parse_customer(std::string_view body);
validated<persistence::booking_input> parse_booking(std::string_view body);
validated<persistence::invoice_input> parse_invoice(std::string_view body);
/// `token` comes from the path; score and comment from the body.
validated<persistence::nps_input> parse_nps_answer(std::string_view body, std::string token);

/// `limit` (1-100, default 20), `cursor`, `status` (comma-separated or
/// repeated), `from`/`to` (RFC 3339), and the parent filter of the resource
/// (`customer_id` for bookings, `booking_id` for invoices).
validated<persistence::list_query> parse_list_query(persistence::resource kind, std::string_view query);

/// A positive decimal id from a path segment.
std::optional<int64_t> parse_id(std::string_view text);

/// `POST /v1/admin/break-glass/start`: `reason` (required, 1-500
/// characters, not blank) and `ttl_minutes` (optional, at least 1; capping
/// to the configured maximum is the caller's job).
struct break_glass_request {
  std::string reason;
  std::optional<int64_t> ttl_minutes;
};
validated<break_glass_request> parse_break_glass_request(std::string_view body);

/// `GET /v1/admin/audit`: `limit` (1-200, default 50) and `cursor`.
validated<persistence::audit_query> parse_audit_query(std::string_view query);

/// `GET /v1/admin/outbox/dead-letter`: `kind` (email, sms, export, webhook;
/// default every kind), `limit` (1-200, default 50) and `cursor`.
validated<persistence::dead_letter_query> parse_dead_letter_query(std::string_view query);

/// `POST /v1/admin/outbox/dead-letter/replay`: `kind` (required), `from` and
/// `to` (RFC 3339, on the time each event died), `limit` (1-5000, default
/// 1000) and `dry_run` (true|false, default false).
validated<persistence::dead_letter_bulk> parse_dead_letter_bulk(std::string_view query);

/// `GET /v1/admin/webhooks/events`: `status` (received, applied, ignored,
/// payload_mismatch), `limit` (1-200, default 50) and `cursor`.
validated<persistence::stripe_event_query> parse_stripe_event_query(std::string_view query);

/// `Idempotency-Key`: 1-255 printable ASCII characters.
bool valid_idempotency_key(std::string_view key);

/// The JSON body of a 422 (`validation_failed` with a `fields` list) or 400.
std::string validation_error_body(const std::vector<field_error>& errors);

} // namespace clean::http
