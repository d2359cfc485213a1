#include "persistence/job_work.hpp"

#include "persistence/rows.hpp"

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include <stdexcept>

namespace clean::persistence::job_work {

namespace {

using size = pqxx::row::size_type;

// Each statement is one atomic step: pick candidates (locking them where
// they change), mark them, insert their events; a dedupe key already
// present (another instance was quicker) is counted as skipped.
constexpr const char* booking_reminders_sql =
    "WITH candidates AS ("
    "  SELECT b.id, b.customer_id FROM bookings b"
    "  WHERE b.status = 'scheduled' AND b.scheduled_at > now()"
    "    AND b.scheduled_at <= now() + $1::float8 * interval '1 second'"
    "    AND NOT EXISTS (SELECT 1 FROM outbox_events o WHERE o.dedupe_key = 'booking:' || b.id || "
    "':reminder')"
    "  ORDER BY b.scheduled_at, b.id LIMIT $2),"
    " ins AS (INSERT INTO outbox_events (kind, dedupe_key, payload)"
    "  SELECT 'email', 'booking:' || id || ':reminder', jsonb_build_object('template', 'booking_reminder',"
    "    'booking_id', id, 'customer_id', customer_id) FROM candidates"
    "  ON CONFLICT (dedupe_key) DO NOTHING RETURNING 1)"
    " SELECT (SELECT count(*) FROM candidates), (SELECT count(*) FROM ins)";

// The SMS twin of a booking reminder, for customers with a phone.
constexpr const char* booking_sms_reminders_sql =
    "WITH candidates AS ("
    "  SELECT b.id, b.customer_id FROM bookings b JOIN customers c ON c.id = b.customer_id"
    "  WHERE b.status = 'scheduled' AND b.scheduled_at > now() AND c.phone IS NOT NULL"
    "    AND b.scheduled_at <= now() + $1::float8 * interval '1 second'"
    "    AND NOT EXISTS (SELECT 1 FROM outbox_events o WHERE o.dedupe_key = 'booking:' || b.id || "
    "':reminder:sms')"
    "  ORDER BY b.scheduled_at, b.id LIMIT $2),"
    " ins AS (INSERT INTO outbox_events (kind, dedupe_key, payload)"
    "  SELECT 'sms', 'booking:' || id || ':reminder:sms', jsonb_build_object('template', 'booking_reminder',"
    "    'booking_id', id, 'customer_id', customer_id) FROM candidates"
    "  ON CONFLICT (dedupe_key) DO NOTHING RETURNING 1)"
    " SELECT (SELECT count(*) FROM candidates), (SELECT count(*) FROM ins)";

constexpr const char* invoice_reminders_sql =
    "WITH candidates AS ("
    "  SELECT i.id FROM invoices i WHERE i.status = 'open' AND i.due_at < now()"
    "    AND (i.last_reminded_at IS NULL OR i.last_reminded_at <= now() - $1::float8 * interval '1 second')"
    "  ORDER BY i.due_at, i.id LIMIT $2 FOR UPDATE SKIP LOCKED),"
    " bumped AS (UPDATE invoices i SET reminders_sent = i.reminders_sent + 1, last_reminded_at = now()"
    "  FROM candidates c WHERE i.id = c.id RETURNING i.id, i.booking_id, i.reminders_sent),"
    " ins AS (INSERT INTO outbox_events (kind, dedupe_key, payload)"
    "  SELECT 'email', 'invoice:' || id || ':reminder:' || reminders_sent, jsonb_build_object("
    "    'template', 'invoice_reminder', 'invoice_id', id, 'booking_id', booking_id, 'reminder', "
    "reminders_sent)"
    "  FROM bumped ON CONFLICT (dedupe_key) DO NOTHING RETURNING 1)"
    " SELECT (SELECT count(*) FROM bumped), (SELECT count(*) FROM ins)";

constexpr const char* nps_sql =
    "WITH candidates AS ("
    "  SELECT s.id FROM nps_surveys s WHERE s.sent_at IS NULL"
    "    AND s.created_at <= now() - $1::float8 * interval '1 second'"
    "  ORDER BY s.created_at, s.id LIMIT $2 FOR UPDATE SKIP LOCKED),"
    " marked AS (UPDATE nps_surveys s SET sent_at = now() FROM candidates c WHERE s.id = c.id"
    "  RETURNING s.id, s.booking_id),"
    " ins AS (INSERT INTO outbox_events (kind, dedupe_key, payload)"
    "  SELECT 'email', 'nps:' || id || ':survey', jsonb_build_object('template', 'nps_survey',"
    "    'survey_id', id, 'booking_id', booking_id) FROM marked"
    "  ON CONFLICT (dedupe_key) DO NOTHING RETURNING 1)"
    " SELECT (SELECT count(*) FROM marked), (SELECT count(*) FROM ins)";

constexpr const char* booking_columns =
    "b.id, ts_to_micros(b.scheduled_at), b.duration_minutes, b.address, b.price_cents, b.currency, b.status, "
    "c.name, c.email, c.phone";
const std::string booking_ctx_sql =
    std::string{"SELECT "} + booking_columns +
    " FROM bookings b JOIN customers c ON c.id = b.customer_id WHERE b.id = $1";
const std::string invoice_ctx_sql =
    std::string{"SELECT "} + booking_columns +
    ", i.id, i.amount_cents, i.currency, ts_to_micros(i.due_at), i.status, i.reminders_sent, "
    "i.last_payment_error"
    " FROM invoices i JOIN bookings b ON b.id = i.booking_id JOIN customers c ON c.id = b.customer_id"
    " WHERE i.id = $1";
const std::string survey_ctx_sql = std::string{"SELECT "} + booking_columns +
                                   ", s.token FROM nps_surveys s JOIN bookings b ON b.id = s.booking_id"
                                   " JOIN customers c ON c.id = b.customer_id WHERE s.id = $1";

constexpr const char* export_sql =
    "SELECT i.id, i.booking_id, b.customer_id, i.amount_cents, i.currency, i.status, "
    "ts_to_micros(i.due_at), ts_to_micros(i.created_at), coalesce(i.stripe_payment_intent_id, '') "
    "FROM invoices i JOIN bookings b ON b.id = i.booking_id WHERE i.id = $1";

constexpr const char* prune_outbox_sql =
    "DELETE FROM outbox_events WHERE status = 'delivered' AND delivered_at < now() - $1 * interval '1 day'";
constexpr const char* prune_idempotency_sql =
    "DELETE FROM idempotency_keys WHERE created_at < now() - $1 * interval '1 hour'";

queue_counts run_counts(pqxx::connection_base& conn, const char* sql, double seconds, int batch) {
  queue_counts total;
  while (true) {
    pqxx::work tx{conn};
    auto r = tx.exec_params1(sql, seconds, batch);
    tx.commit();
    auto candidates = r[size{0}].as<int64_t>();
    auto inserted = r[size{1}].as<int64_t>();
    total.queued += inserted;
    total.skipped += candidates - inserted;
    if (candidates < batch)
      return total;
  }
}

nlohmann::json booking_part(const pqxx::row& r) {
  return {{"id", r[size{0}].as<int64_t>()},           {"scheduled_at", rows::time_or_null(r[size{1}])},
          {"duration_minutes", r[size{2}].as<int>()}, {"address", r[size{3}].as<std::string>()},
          {"price_cents", r[size{4}].as<int64_t>()},  {"currency", r[size{5}].as<std::string>()},
          {"status", r[size{6}].as<std::string>()}};
}

nlohmann::json customer_part(const pqxx::row& r) {
  return {{"name", r[size{7}].as<std::string>()},
          {"email", r[size{8}].as<std::string>()},
          {"phone", rows::text_or_null(r[size{9}])}};
}

int64_t id_of(const nlohmann::json& payload, const char* key) {
  auto it = payload.find(key);
  return it != payload.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
}

} // namespace

queue_counts queue_booking_reminders(pqxx::connection_base& conn, double lead_seconds, int batch) {
  return run_counts(conn, booking_reminders_sql, lead_seconds, batch);
}

queue_counts queue_booking_sms_reminders(pqxx::connection_base& conn, double lead_seconds, int batch) {
  return run_counts(conn, booking_sms_reminders_sql, lead_seconds, batch);
}

queue_counts queue_invoice_reminders(pqxx::connection_base& conn, double interval_seconds, int batch) {
  return run_counts(conn, invoice_reminders_sql, interval_seconds, batch);
}

queue_counts queue_nps_surveys(pqxx::connection_base& conn, double delay_seconds, int batch) {
  return run_counts(conn, nps_sql, delay_seconds, batch);
}

nlohmann::json email_context(pqxx::connection_base& conn, const nlohmann::json& payload) {
  pqxx::nontransaction tx{conn};
  nlohmann::json out;
  if (auto survey = id_of(payload, "survey_id")) {
    auto res = tx.exec_params(survey_ctx_sql, survey);
    if (res.empty())
      throw std::invalid_argument("no NPS survey " + std::to_string(survey));
    out["booking"] = booking_part(res[0]);
    out["customer"] = customer_part(res[0]);
    out["survey"] = {{"id", survey}, {"token", res[0][size{10}].as<std::string>()}};
  } else if (auto invoice = id_of(payload, "invoice_id")) {
    auto res = tx.exec_params(invoice_ctx_sql, invoice);
    if (res.empty())
      throw std::invalid_argument("no invoice " + std::to_string(invoice));
    const auto& r = res[0];
    out["booking"] = booking_part(r);
    out["customer"] = customer_part(r);
    out["invoice"] = {{"id", r[size{10}].as<int64_t>()},
                      {"amount_cents", r[size{11}].as<int64_t>()},
                      {"currency", r[size{12}].as<std::string>()},
                      {"due_at", rows::time_or_null(r[size{13}])},
                      {"status", r[size{14}].as<std::string>()},
                      {"reminders_sent", r[size{15}].as<int>()},
                      {"last_payment_error", rows::text_or_null(r[size{16}])}};
  } else if (auto booking = id_of(payload, "booking_id")) {
    auto res = tx.exec_params(booking_ctx_sql, booking);
    if (res.empty())
      throw std::invalid_argument("no booking " + std::to_string(booking));
    out["booking"] = booking_part(res[0]);
    out["customer"] = customer_part(res[0]);
  } else {
    throw std::invalid_argument("the event names no booking, invoice or survey");
  }
  return out;
}

std::vector<std::vector<std::string>> invoice_export(pqxx::connection_base& conn, int64_t invoice_id) {
  pqxx::nontransaction tx{conn};
  auto res = tx.exec_params(export_sql, invoice_id);
  if (res.empty())
    throw std::invalid_argument("no invoice " + std::to_string(invoice_id));
  const auto& r = res[0];
  std::vector<std::string> row;
  for (size i = 0; i < r.size(); ++i) {
    if (i == 6 || i == 7)
      row.push_back(format_rfc3339(r[i].as<int64_t>()));
    else
      row.push_back(r[i].as<std::string>());
  }
  return {{"invoice_id", "booking_id", "customer_id", "amount_cents", "currency", "status", "due_at",
           "created_at", "stripe_payment_intent_id"},
          std::move(row)};
}

int64_t prune_delivered_outbox(pqxx::connection_base& conn, int days) {
  pqxx::nontransaction tx{conn};
  return static_cast<int64_t>(tx.exec_params(prune_outbox_sql, days).affected_rows());
}

int64_t prune_idempotency_keys(pqxx::connection_base& conn, int hours) {
  pqxx::nontransaction tx{conn};
  return static_cast<int64_t>(tx.exec_params(prune_idempotency_sql, hours).affected_rows());
}

} // namespace clean::persistence::job_work
