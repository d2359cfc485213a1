#pragma once

// The business records as the API sees them, and the validated inputs that
// create them. Plain values: no database or actor types, so the HTTP layer,
// the actors and the repositories all share them.

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace clean::persistence {

struct customer_input {
  std::string name;
  std::string email;
  std::optional<std::string> phone;
};

struct booking_input {
  int64_t customer_id = 0;
  int64_t scheduled_at = 0; // micros since the epoch
  int32_t duration_minutes = 0;
  std::string address;
  int64_t price_cents = 0;
  std::string currency;
};

struct invoice_input {
  int64_t booking_id = 0;
  int64_t amount_cents = 0;
  std::string currency;
  int64_t due_at = 0;
  std::optional<std::string> stripe_payment_intent_id;
};

struct nps_input {
  std::string token;
  int32_t score = 0;
  std::optional<std::string> comment;
};

enum class resource : uint8_t { customers, bookings, invoices };

/// Where the previous page ended: the sort key of its last row.
struct page_cursor {
  int64_t time = 0;
  int64_t id = 0;
};

/// Opaque to clients (base64url); nullopt when malformed.
std::string encode_cursor(const page_cursor& c);
std::optional<page_cursor> decode_cursor(const std::string& text);

/// A keyset-paginated list request. Rows are ordered by the resource's time
/// (customers: created_at, bookings: scheduled_at, invoices: due_at), then id.
struct list_query {
  resource kind = resource::customers;
  std::vector<std::string> statuses; // empty = any
  std::optional<int64_t> from;       // inclusive, micros
  std::optional<int64_t> to;         // exclusive, micros
  std::optional<int64_t> parent_id;  // bookings: customer_id; invoices: booking_id
  int32_t limit = 20;
  std::optional<page_cursor> after;
};

/// One answer of the API, already rendered: what the idempotency table
/// stores and what a replay returns.
struct api_result {
  uint16_t status = 200;
  std::string body;
  bool replayed = false;
};

/// Who is calling: the API key that authenticated the request.
struct api_principal {
  int64_t key_id = 0;
  std::string name;
};

/// A write's idempotency context (key empty = none given).
struct write_context {
  std::string scope; // "key:<id>" or "nps:<token>"
  std::string idempotency_key;
  std::string request_hash;
};

// --- Admin surface ---------------------------------------------------------

/// A break-glass token that checked out: its session and why it was opened.
struct break_glass_grant {
  int64_t session_id = 0;
  std::string reason;
  std::string started_by;
};

/// Where an admin call came from, for the audit log.
struct admin_origin {
  std::string user; // the Basic-auth user (or the session owner for token-only calls)
  std::string request_id;
  std::string client; // peer IP address
};

struct break_glass_start {
  admin_origin origin;
  std::string reason;
  int32_t ttl_minutes = 0; // already capped
  bool capped = false;     // the caller asked for more than the cap
};

struct break_glass_end {
  admin_origin origin;
  int64_t session_id = 0;
  int64_t by_session_id = 0; // the session whose token made this call (0 = none)
};

/// One row of the audit log (the database stamps the time).
struct admin_audit_entry {
  admin_origin origin;
  std::string action; // "POST /v1/admin/supervisor/{path...}/crash"
  std::string target; // the path parameters, e.g. "root/db/probe"
  std::string reason;
  int64_t break_glass_session_id = 0; // 0 = none
  int32_t status = 0;
  std::string outcome;
};

struct audit_query {
  int32_t limit = 50;
  std::optional<page_cursor> after;
};

/// A circuit breaker forced by on-call (circuit_overrides).
struct circuit_override {
  std::string circuit;
  std::string state; // forced_open | forced_closed
  std::string set_by;
  std::string reason;
  int64_t set_at = 0; // micros
};

/// Outbox depths by status, and the email part of them (the email DLQ).
struct outbox_depths {
  int64_t pending = 0;
  int64_t retry = 0;
  int64_t dead = 0;
  int64_t email_retry = 0;
  int64_t email_dead = 0;
};

/// Values for gauges that only the database knows (shared by every instance).
struct db_gauge_sample {
  int64_t break_glass_active = 0;
  outbox_depths outbox;
  std::vector<circuit_override> circuit_overrides;
};

/// GET /v1/admin/outbox/dead-letter.
struct dead_letter_query {
  std::string kind; // empty: every kind
  int32_t limit = 50;
  std::optional<page_cursor> after;
};

/// POST /v1/admin/outbox/dead-letter/replay: dead events of `kind` that
/// died in [from, to), at most `limit`; `dry_run` only lists them.
struct dead_letter_bulk {
  std::string kind;
  int64_t from = 0; // micros, 0 = no bound
  int64_t to = 0;
  int32_t limit = 1000;
  bool dry_run = true;
  std::string actor;
};

} // namespace clean::persistence
