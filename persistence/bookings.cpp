#include "persistence/bookings.hpp"

#include "persistence/digest.hpp"
#include "persistence/domain_error.hpp"
#include "persistence/outbox.hpp"
#include "persistence/rows.hpp"

#include <pqxx/pqxx>

namespace clean::persistence {

namespace {

#define BOOKING_COLUMNS                                                                                      \
  "id, customer_id, ts_to_micros(scheduled_at), duration_minutes, address, status, price_cents, "            \
  "currency, ts_to_micros(completed_at), ts_to_micros(cancelled_at), ts_to_micros(created_at), "             \
  "ts_to_micros(updated_at)"

// The existence check and the insert are one statement; the foreign key
// still guards against a customer deleted concurrently.
constexpr const char* insert_sql =
    "INSERT INTO bookings (customer_id, scheduled_at, duration_minutes, address, price_cents, currency) "
    "SELECT $1, micros_to_ts($2), $3, $4, $5, $6 WHERE EXISTS (SELECT 1 FROM customers WHERE id = $1) "
    "RETURNING " BOOKING_COLUMNS;
constexpr const char* get_many_sql = "SELECT " BOOKING_COLUMNS " FROM bookings WHERE id = ANY($1::bigint[])";
// The status condition makes concurrent transitions race safely: the loser
// re-checks the row after the winner commits and updates nothing.
constexpr const char* complete_sql = "UPDATE bookings SET status = 'completed', completed_at = now() "
                                     "WHERE id = $1 AND status = 'scheduled' RETURNING " BOOKING_COLUMNS;
constexpr const char* cancel_sql = "UPDATE bookings SET status = 'cancelled', cancelled_at = now() "
                                   "WHERE id = $1 AND status = 'scheduled' RETURNING " BOOKING_COLUMNS;
constexpr const char* status_sql = "SELECT status FROM bookings WHERE id = $1";
// Nothing is owed for a cancelled visit: its open invoices are voided with it.
constexpr const char* void_invoices_sql =
    "UPDATE invoices SET status = 'void' WHERE booking_id = $1 AND status = 'open'";
constexpr const char* survey_sql =
    "INSERT INTO nps_surveys (booking_id, token) VALUES ($1, $2) ON CONFLICT (booking_id) DO NOTHING";
constexpr const char* list_sql = "SELECT " BOOKING_COLUMNS " FROM bookings WHERE status = ANY($1::text[])"
                                 " AND scheduled_at >= micros_to_ts($2) AND scheduled_at < micros_to_ts($3)"
                                 " AND ($4::bigint = 0 OR customer_id = $4)"
                                 " AND (scheduled_at, id) > (micros_to_ts($5), $6)"
                                 " ORDER BY scheduled_at, id LIMIT $7";

nlohmann::json to_json(const pqxx::row& r) {
  return {{"id", r[0].as<int64_t>()},
          {"customer_id", r[1].as<int64_t>()},
          {"scheduled_at", rows::time_or_null(r[2])},
          {"duration_minutes", r[3].as<int32_t>()},
          {"address", r[4].as<std::string>()},
          {"status", r[5].as<std::string>()},
          {"price_cents", r[6].as<int64_t>()},
          {"currency", r[7].as<std::string>()},
          {"completed_at", rows::time_or_null(r[8])},
          {"cancelled_at", rows::time_or_null(r[9])},
          {"created_at", rows::time_or_null(r[10])},
          {"updated_at", rows::time_or_null(r[11])}};
}

[[noreturn]] void explain_failed_transition(pqxx::transaction_base& tx, int64_t id, const char* verb) {
  auto res = tx.exec_prepared("booking_status", id);
  if (res.empty())
    throw domain_error(domain_error::kind::not_found, "not_found",
                       "no booking with id " + std::to_string(id));
  throw domain_error(domain_error::kind::conflict, "invalid_state",
                     std::string{"cannot "} + verb + " a booking that is " + res[0][0].as<std::string>());
}

nlohmann::json subject(int64_t booking_id, int64_t customer_id) {
  return {{"booking_id", booking_id}, {"customer_id", customer_id}};
}

} // namespace

void bookings::prepare(pqxx::connection_base& conn) {
  conn.prepare("booking_insert", insert_sql);
  conn.prepare("booking_get_many", get_many_sql);
  conn.prepare("booking_complete", complete_sql);
  conn.prepare("booking_cancel", cancel_sql);
  conn.prepare("booking_status", status_sql);
  conn.prepare("booking_void_invoices", void_invoices_sql);
  conn.prepare("nps_survey_insert", survey_sql);
}

nlohmann::json bookings::create(pqxx::transaction_base& tx, const booking_input& in) {
  auto res = tx.exec_prepared("booking_insert", in.customer_id, in.scheduled_at, in.duration_minutes,
                              in.address, in.price_cents, in.currency);
  if (res.empty())
    throw domain_error(domain_error::kind::invalid, "unknown_customer",
                       "no customer with id " + std::to_string(in.customer_id), "customer_id");
  auto booking = to_json(res[0]);
  auto id = booking["id"].get<int64_t>();
  outbox::enqueue_email(tx, "booking_confirmation", "booking:" + std::to_string(id) + ":created",
                        subject(id, in.customer_id));
  return booking;
}

std::vector<std::optional<nlohmann::json>> bookings::get_many(pqxx::transaction_base& tx,
                                                              const std::vector<int64_t>& ids) {
  return rows::by_id(tx.exec_prepared("booking_get_many", rows::bigint_array(ids)), ids, to_json);
}

nlohmann::json bookings::list(pqxx::transaction_base& tx, const list_query& q) {
  auto p = rows::params_of(q, "{scheduled,completed,cancelled}");
  auto res = tx.exec_params(list_sql, p.statuses, p.from, p.to, p.parent, p.after_time, p.after_id, p.limit);
  return rows::page(res, q.limit, 2, to_json);
}

nlohmann::json bookings::complete(pqxx::transaction_base& tx, int64_t id) {
  auto res = tx.exec_prepared("booking_complete", id);
  if (res.empty())
    explain_failed_transition(tx, id, "complete");
  auto booking = to_json(res[0]);
  auto customer = booking["customer_id"].get<int64_t>();
  // The survey link is a capability: 128 random bits, sent only by email.
  tx.exec_prepared("nps_survey_insert", id, random_token(16));
  outbox::enqueue_email(tx, "booking_completed", "booking:" + std::to_string(id) + ":completed",
                        subject(id, customer));
  return booking;
}

nlohmann::json bookings::cancel(pqxx::transaction_base& tx, int64_t id) {
  auto res = tx.exec_prepared("booking_cancel", id);
  if (res.empty())
    explain_failed_transition(tx, id, "cancel");
  auto booking = to_json(res[0]);
  tx.exec_prepared("booking_void_invoices", id);
  outbox::enqueue_email(tx, "booking_cancelled", "booking:" + std::to_string(id) + ":cancelled",
                        subject(id, booking["customer_id"].get<int64_t>()));
  return booking;
}

} // namespace clean::persistence
