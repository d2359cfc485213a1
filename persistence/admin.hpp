#pragma once

// Break-glass sessions and the admin audit log. A token is `bg_` + 256
// random bits (base64url); only its SHA-256 is stored, so neither the
// database nor its backups hold a usable token.

#include "persistence/records.hpp"

#include <nlohmann/json_fwd.hpp>

namespace pqxx {
class connection_base;
class transaction_base;
} // namespace pqxx

namespace clean::persistence {

namespace break_glass {

void prepare(pqxx::connection_base& conn);

/// Opens a session and audits it (same transaction). The answer holds the
/// token: the only time it is ever shown.
nlohmann::json start(pqxx::transaction_base& tx, const break_glass_start& req);

/// Open sessions (`all`: every session, newest first, with its state).
nlohmann::json list(pqxx::transaction_base& tx, bool all);

/// Ends an open session early and audits it. Throws domain_error
/// not_found / conflict (already ended or expired).
nlohmann::json end(pqxx::transaction_base& tx, const break_glass_end& req);

/// The session behind a presented token, counting the use. Throws
/// domain_error: unauthenticated (unknown token), forbidden (expired or ended).
break_glass_grant use(pqxx::transaction_base& tx, const std::string& token_hash);

int64_t count_open(pqxx::transaction_base& tx);

} // namespace break_glass

namespace audit {

void prepare(pqxx::connection_base& conn);
void insert(pqxx::transaction_base& tx, const admin_audit_entry& e);
/// `{"data": [...], "next_cursor": ...}`, newest first.
nlohmann::json list(pqxx::transaction_base& tx, const audit_query& q);

} // namespace audit

} // namespace clean::persistence
