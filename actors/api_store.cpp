#include "actors/api_store.hpp"

#include "actors/interfaces.hpp"
#include "actors/store_results.hpp"
#include "persistence/api_keys.hpp"
#include "persistence/bookings.hpp"
#include "persistence/customers.hpp"
#include "persistence/domain_error.hpp"
#include "persistence/idempotency.hpp"
#include "persistence/invoices.hpp"
#include "persistence/outbox.hpp"
#include "persistence/time.hpp"

#include <pqxx/nontransaction>
#include <pqxx/transaction>

namespace clean {

namespace {

using namespace persistence;

/// One write: replay a stored answer for a seen Idempotency-Key, otherwise
/// make the change and store its answer, all in one transaction.
template <class Change>
api_result write(pqxx::connection_base& conn, const write_context& w, uint16_t status, Change&& change) {
  pqxx::work tx{conn};
  if (auto stored = idempotency::claim(tx, w))
    return *stored; // nothing written: the transaction just rolls back
  api_result out{status, change(tx).dump(), false};
  idempotency::record(tx, w, out);
  tx.commit();
  return out;
}

std::vector<std::optional<nlohmann::json>> get_resources(pqxx::transaction_base& tx, resource kind,
                                                         const std::vector<int64_t>& ids) {
  switch (kind) {
    case resource::customers:
      return customers::get_many(tx, ids);
    case resource::bookings:
      return bookings::get_many(tx, ids);
    case resource::invoices:
      return invoices::get_many(tx, ids);
  }
  throw std::logic_error("unknown resource");
}

const char* noun_of(resource kind) {
  switch (kind) {
    case resource::customers:
      return "customer";
    case resource::bookings:
      return "booking";
    case resource::invoices:
      return "invoice";
  }
  return "record";
}

/// One answer per id, in order: 200 with the record, or 404 whose body is
/// the message a single read would have failed with.
std::vector<api_result> read_many(pqxx::connection_base& conn, resource kind,
                                  const std::vector<int64_t>& ids) {
  pqxx::nontransaction tx{conn};
  auto found = get_resources(tx, kind, ids);
  std::vector<api_result> out;
  out.reserve(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    if (found[i])
      out.push_back({200, found[i]->dump(), false});
    else
      out.push_back({404, std::string{"no "} + noun_of(kind) + " with id " + std::to_string(ids[i]), false});
  }
  return out;
}

nlohmann::json list_resource(pqxx::transaction_base& tx, const list_query& q) {
  switch (q.kind) {
    case resource::customers:
      return customers::list(tx, q);
    case resource::bookings:
      return bookings::list(tx, q);
    case resource::invoices:
      return invoices::list(tx, q);
  }
  throw std::logic_error("unknown resource");
}

/// The integration's copy of a business event, in the change's transaction
/// (so a change is never without its webhook, nor a webhook without its
/// change). `data` is the record as of the event.
template <class Change>
auto notifying(const api_store_options& opts, const char* type, const char* resource, Change&& change) {
  return [&opts, type, resource, change = std::forward<Change>(change)](pqxx::work& tx) {
    auto record = change(tx);
    if (opts.webhooks) {
      auto key = std::string{resource} + ":" + std::to_string(record["id"].template get<int64_t>()) + ":" +
                 (std::string{type}.substr(std::string{type}.find('.') + 1)) + ":webhook";
      auto now = std::chrono::duration_cast<std::chrono::microseconds>(
                     std::chrono::system_clock::now().time_since_epoch())
                     .count();
      outbox::enqueue(tx, "webhook", key,
                      {{"type", type}, {"created_at", format_rfc3339(now)}, {"data", record}});
    }
    return record;
  };
}

} // namespace

void prepare_api_statements(pqxx::connection_base& conn) {
  api_keys::prepare(conn);
  customers::prepare(conn);
  bookings::prepare(conn);
  invoices::prepare(conn);
  nps::prepare(conn);
  idempotency::prepare(conn);
  outbox::prepare(conn);
}

caf::behavior api_store(pqxx::connection_base& conn, api_store_options opts) {
  auto* c = &conn;
  auto o = std::make_shared<const api_store_options>(opts);
  return {
      [c](auth_atom, const std::string& key_hash) -> api_principal {
        pqxx::nontransaction tx{*c};
        auto who = api_keys::authenticate(tx, key_hash);
        if (!who)
          throw domain_error(domain_error::kind::unauthenticated, "invalid_api_key",
                             "the API key is unknown or revoked");
        return *who;
      },
      [c](create_atom, const write_context& w, const customer_input& in) {
        return write(*c, w, 201, [&](pqxx::work& tx) { return customers::create(tx, in); });
      },
      [c, o](create_atom, const write_context& w, const booking_input& in) {
        return write(*c, w, 201, notifying(*o, "booking.created", "booking", [&](pqxx::work& tx) {
          return bookings::create(tx, in);
        }));
      },
      [c, o](create_atom, const write_context& w, const invoice_input& in) {
        return write(*c, w, 201, notifying(*o, "invoice.created", "invoice", [&](pqxx::work& tx) {
          return invoices::create(tx, in);
        }));
      },
      [c, o](complete_atom, const write_context& w, int64_t id) {
        return write(*c, w, 200, notifying(*o, "booking.completed", "booking", [&](pqxx::work& tx) {
          return bookings::complete(tx, id);
        }));
      },
      [c, o](cancel_atom, const write_context& w, int64_t id) {
        return write(*c, w, 200, notifying(*o, "booking.cancelled", "booking", [&](pqxx::work& tx) {
          return bookings::cancel(tx, id);
        }));
      },
      [c](answer_atom, const write_context& w, const nps_input& in) {
        return write(*c, w, 201, [&](pqxx::work& tx) { return nps::answer(tx, in); });
      },
      [c](get_atom, resource kind, const std::vector<int64_t>& ids) { return read_many(*c, kind, ids); },
      [c](list_atom, const list_query& q) {
        return read(*c, [&](pqxx::transaction_base& tx) { return list_resource(tx, q); });
      },
  };
}

} // namespace clean
