#include "persistence/customers.hpp"

#include "persistence/domain_error.hpp"
#include "persistence/rows.hpp"

#include <pqxx/pqxx>

namespace clean::persistence {

namespace {

constexpr const char* columns =
    "id, name, email, phone, status, ts_to_micros(created_at), ts_to_micros(updated_at)";

const std::string insert_sql = std::string{"INSERT INTO customers (name, email, phone) "
                                           "VALUES ($1, $2, NULLIF($3, '')) RETURNING "} +
                               columns;
const std::string get_sql = std::string{"SELECT "} + columns + " FROM customers WHERE id = $1";
// Parameterized, not prepared: with optional filters a plan made for the
// actual values beats a generic one.
const std::string list_sql = std::string{"SELECT "} + columns +
                             " FROM customers WHERE status = ANY($1::text[])"
                             " AND created_at >= micros_to_ts($2) AND created_at < micros_to_ts($3)"
                             " AND $4::bigint = 0" // customers have no parent
                             " AND (created_at, id) > (micros_to_ts($5), $6)"
                             " ORDER BY created_at, id LIMIT $7";

nlohmann::json to_json(const pqxx::row& r) {
  return {{"id", r[0].as<int64_t>()},
          {"name", r[1].as<std::string>()},
          {"email", r[2].as<std::string>()},
          {"phone", rows::text_or_null(r[3])},
          {"status", r[4].as<std::string>()},
          {"created_at", rows::time_or_null(r[5])},
          {"updated_at", rows::time_or_null(r[6])}};
}

} // namespace

void customers::prepare(pqxx::connection_base& conn) {
  conn.prepare("customer_insert", insert_sql);
  conn.prepare("customer_get", get_sql);
}

nlohmann::json customers::create(pqxx::transaction_base& tx, const customer_input& in) {
  auto r = tx.exec_prepared1("customer_insert", in.name, in.email, in.phone.value_or(""));
  return to_json(r);
}

nlohmann::json customers::get(pqxx::transaction_base& tx, int64_t id) {
  auto res = tx.exec_prepared("customer_get", id);
  if (res.empty())
    throw domain_error(domain_error::kind::not_found, "not_found",
                       "no customer with id " + std::to_string(id));
  return to_json(res[0]);
}

nlohmann::json customers::list(pqxx::transaction_base& tx, const list_query& q) {
  auto p = rows::params_of(q, "{active}");
  auto res = tx.exec_params(list_sql, p.statuses, p.from, p.to, p.parent, p.after_time, p.after_id, p.limit);
  return rows::page(res, q.limit, 5, to_json);
}

} // namespace clean::persistence
