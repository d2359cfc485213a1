#include "persistence/db_error.hpp"

#include <pqxx/except>

namespace clean::persistence {

namespace {

classified_failure from_sqlstate(const pqxx::sql_error& e) {
  const std::string& state = e.sqlstate();
  classified_failure out;
  out.message = e.what();
  if (state == "57014") {
    out.kind = db_failure::timeout;
  } else if (state == "40001" || state == "40P01") {
    out.kind = db_failure::serialization;
  } else if (state.rfind("23", 0) == 0) {
    out.kind = db_failure::constraint;
  } else if (state.rfind("08", 0) == 0 || state == "57P01" || state == "57P02" || state == "57P03") {
    // Connection exceptions and "terminating connection due to
    // administrator command" (pg_terminate_backend, server shutdown).
    out.kind = db_failure::connection;
    out.broken = true;
  } else {
    out.kind = db_failure::query;
  }
  return out;
}

} // namespace

classified_failure classify_current_exception() {
  try {
    throw;
  } catch (const pqxx::in_doubt_error& e) {
    return {db_failure::in_doubt, e.what(), true};
  } catch (const pqxx::broken_connection& e) {
    return {db_failure::connection, e.what(), true};
  } catch (const pqxx::transaction_rollback& e) {
    return {db_failure::serialization, e.what(), false};
  } catch (const pqxx::sql_error& e) {
    return from_sqlstate(e);
  } catch (const std::exception& e) {
    return {db_failure::query, e.what(), false};
  } catch (...) {
    return {db_failure::query, "unknown exception", false};
  }
}

const char* failure_name(db_failure f) {
  switch (f) {
    case db_failure::connection:
      return "connection";
    case db_failure::timeout:
      return "timeout";
    case db_failure::serialization:
      return "serialization";
    case db_failure::constraint:
      return "constraint";
    case db_failure::in_doubt:
      return "in_doubt";
    case db_failure::query:
      return "query";
  }
  return "query";
}

} // namespace clean::persistence
