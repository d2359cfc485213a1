#include "persistence/invoices.hpp"

#include "persistence/domain_error.hpp"
#include "persistence/outbox.hpp"
#include "persistence/rows.hpp"

#include <pqxx/pqxx>

namespace clean::persistence {

namespace {

#define INVOICE_COLUMNS                                                                                      \
  "id, booking_id, amount_cents, currency, status, ts_to_micros(due_at), stripe_payment_intent_id, "         \
  "ts_to_micros(paid_at), ts_to_micros(created_at), ts_to_micros(updated_at)"

// FOR SHARE keeps the booking from being cancelled until this commits.
constexpr const char* insert_sql =
    "INSERT INTO invoices (booking_id, amount_cents, currency, due_at, stripe_payment_intent_id) "
    "SELECT b.id, $2, $3, micros_to_ts($4), NULLIF($5, '') FROM bookings b "
    "WHERE b.id = $1 AND b.status <> 'cancelled' FOR SHARE OF b "
    "ON CONFLICT (stripe_payment_intent_id) DO NOTHING RETURNING " INVOICE_COLUMNS;
constexpr const char* get_many_sql = "SELECT " INVOICE_COLUMNS " FROM invoices WHERE id = ANY($1::bigint[])";
constexpr const char* booking_sql = "SELECT status, customer_id FROM bookings WHERE id = $1";
constexpr const char* list_sql = "SELECT " INVOICE_COLUMNS " FROM invoices WHERE status = ANY($1::text[])"
                                 " AND due_at >= micros_to_ts($2) AND due_at < micros_to_ts($3)"
                                 " AND ($4::bigint = 0 OR booking_id = $4)"
                                 " AND (due_at, id) > (micros_to_ts($5), $6)"
                                 " ORDER BY due_at, id LIMIT $7";

constexpr const char* answer_sql = "INSERT INTO nps_responses (survey_id, score, comment) "
                                   "SELECT id, $2, NULLIF($3, '') FROM nps_surveys WHERE token = $1 "
                                   "ON CONFLICT (survey_id) DO NOTHING "
                                   "RETURNING survey_id, score, comment, ts_to_micros(answered_at)";
constexpr const char* survey_sql = "SELECT id FROM nps_surveys WHERE token = $1";

nlohmann::json to_json(const pqxx::row& r) {
  return {{"id", r[0].as<int64_t>()},
          {"booking_id", r[1].as<int64_t>()},
          {"amount_cents", r[2].as<int64_t>()},
          {"currency", r[3].as<std::string>()},
          {"status", r[4].as<std::string>()},
          {"due_at", rows::time_or_null(r[5])},
          {"stripe_payment_intent_id", rows::text_or_null(r[6])},
          {"paid_at", rows::time_or_null(r[7])},
          {"created_at", rows::time_or_null(r[8])},
          {"updated_at", rows::time_or_null(r[9])}};
}

[[noreturn]] void explain_refused_insert(pqxx::transaction_base& tx, const invoice_input& in) {
  auto res = tx.exec_prepared("invoice_booking", in.booking_id);
  if (res.empty())
    throw domain_error(domain_error::kind::invalid, "unknown_booking",
                       "no booking with id " + std::to_string(in.booking_id), "booking_id");
  if (res[0][0].as<std::string>() == "cancelled")
    throw domain_error(domain_error::kind::conflict, "invalid_state", "cannot invoice a cancelled booking");
  throw domain_error(domain_error::kind::conflict, "duplicate_payment_intent",
                     "another invoice already has this stripe_payment_intent_id");
}

} // namespace

void invoices::prepare(pqxx::connection_base& conn) {
  conn.prepare("invoice_insert", insert_sql);
  conn.prepare("invoice_get_many", get_many_sql);
  conn.prepare("invoice_booking", booking_sql);
}

nlohmann::json invoices::create(pqxx::transaction_base& tx, const invoice_input& in) {
  auto res = tx.exec_prepared("invoice_insert", in.booking_id, in.amount_cents, in.currency, in.due_at,
                              in.stripe_payment_intent_id.value_or(""));
  if (res.empty())
    explain_refused_insert(tx, in);
  auto invoice = to_json(res[0]);
  auto id = std::to_string(invoice["id"].get<int64_t>());
  auto customer = tx.exec_prepared1("invoice_booking", in.booking_id)[1].as<int64_t>();
  nlohmann::json subject = {
      {"invoice_id", invoice["id"]}, {"booking_id", in.booking_id}, {"customer_id", customer}};
  outbox::enqueue_email(tx, "invoice_issued", "invoice:" + id + ":created", subject);
  outbox::enqueue(tx, "export", "invoice:" + id + ":export",
                  {{"format", "csv"}, {"scope", "invoice"}, {"invoice_id", invoice["id"]}});
  return invoice;
}

std::vector<std::optional<nlohmann::json>> invoices::get_many(pqxx::transaction_base& tx,
                                                              const std::vector<int64_t>& ids) {
  return rows::by_id(tx.exec_prepared("invoice_get_many", rows::bigint_array(ids)), ids, to_json);
}

nlohmann::json invoices::list(pqxx::transaction_base& tx, const list_query& q) {
  auto p = rows::params_of(q, "{open,paid,void,refunded}");
  auto res = tx.exec_params(list_sql, p.statuses, p.from, p.to, p.parent, p.after_time, p.after_id, p.limit);
  return rows::page(res, q.limit, 5, to_json);
}

void nps::prepare(pqxx::connection_base& conn) {
  conn.prepare("nps_answer", answer_sql);
  conn.prepare("nps_survey", survey_sql);
}

nlohmann::json nps::answer(pqxx::transaction_base& tx, const nps_input& in) {
  auto res = tx.exec_prepared("nps_answer", in.token, in.score, in.comment.value_or(""));
  if (res.empty()) {
    if (tx.exec_prepared("nps_survey", in.token).empty())
      throw domain_error(domain_error::kind::not_found, "not_found", "no survey for this link");
    throw domain_error(domain_error::kind::conflict, "already_answered", "this survey was already answered");
  }
  const auto& r = res[0];
  return {{"id", r[0].as<int64_t>()},
          {"status", "answered"},
          {"score", r[1].as<int>()},
          {"comment", rows::text_or_null(r[2])},
          {"created_at", rows::time_or_null(r[3])}};
}

} // namespace clean::persistence
