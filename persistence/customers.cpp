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
const std::string get_many_sql =
    std::string{"SELECT "} + columns + " FROM customers WHERE id = ANY($1::bigint[])";
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
  conn.prepare("customer_get_many", get_many_sql);
}

nlohmann::json customers::create(pqxx::transaction_base& tx, const customer_input& in) {
  auto r = tx.exec_prepared1("customer_insert", in.name, in.email, in.phone.value_or(""));
  return to_json(r);
}

std::vector<std::optional<nlohmann::json>> customers::get_many(pqxx::transaction_base& tx,
                                                               const std::vector<int64_t>& ids) {
  return rows::by_id(tx.exec_prepared("customer_get_many", rows::bigint_array(ids)), ids, to_json);
}

nlohmann::json customers::list(pqxx::transaction_base& tx, const list_query& q) {
  auto p = rows::params_of(q, "{active}");
  auto res = tx.exec_params(list_sql, p.statuses, p.from, p.to, p.parent, p.after_time, p.after_id, p.limit);
  return rows::page(res, q.limit, 5, to_json);
}

} // namespace clean::persistence
