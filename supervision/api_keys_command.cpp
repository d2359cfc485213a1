// `clean-service api-keys create|list|revoke`: key management from the
// command line, talking to the database directly (no running service needed).

#include "config/cli.hpp"
#include "config/settings.hpp"
#include "persistence/api_keys.hpp"
#include "persistence/connection.hpp"
#include "supervision/application.hpp"
#include "telemetry/logging.hpp"

#include <pqxx/pqxx>

#include <cstdio>

namespace clean::supervision {

using telemetry::log;

namespace {

int create(pqxx::connection& db, const std::string& name) {
  pqxx::work tx{db};
  auto key = persistence::api_keys::create(tx, name);
  tx.commit();
  // The key alone on stdout, so scripts can capture it; the rest on stderr.
  std::printf("%s\n", key.key.c_str());
  std::fflush(stdout);
  std::fprintf(stderr, "created API key %lld \"%s\" (prefix %s). It is shown only this once; store it now.\n",
               static_cast<long long>(key.id), name.c_str(), key.prefix.c_str());
  log(spdlog::level::info, "api_key_created", "API key created",
      {{"key_id", key.id}, {"name", name}, {"prefix", key.prefix}});
  return 0;
}

int list(pqxx::connection& db) {
  pqxx::read_transaction tx{db};
  std::printf("%-6s %-24s %-14s %-22s %-22s %s\n", "ID", "NAME", "PREFIX", "CREATED", "LAST USED", "STATE");
  for (const auto& k : persistence::api_keys::list(tx))
    std::printf("%-6lld %-24s %-14s %-22s %-22s %s\n", static_cast<long long>(k.id), k.name.c_str(),
                k.prefix.c_str(), k.created_at.c_str(),
                k.last_used_at.empty() ? "never" : k.last_used_at.c_str(),
                k.revoked_at.empty() ? "active" : ("revoked " + k.revoked_at).c_str());
  return 0;
}

int revoke(pqxx::connection& db, int64_t id, std::chrono::milliseconds cache_ttl) {
  pqxx::work tx{db};
  if (!persistence::api_keys::revoke(tx, id)) {
    std::fprintf(stderr, "clean-service: no active API key with id %lld\n", static_cast<long long>(id));
    return 1;
  }
  tx.commit();
  std::fprintf(stderr, "revoked API key %lld; running instances stop accepting it within %.0f s\n",
               static_cast<long long>(id), cache_ttl.count() / 1000.0);
  log(spdlog::level::info, "api_key_revoked", "API key revoked", {{"key_id", id}});
  return 0;
}

} // namespace

int manage_api_keys(const config::settings& settings, const config::invocation& call) {
  if (settings.database_url.empty()) {
    log(spdlog::level::err, "config_invalid", "DATABASE_URL is not set; api-keys needs the database");
    return 2;
  }
  try {
    persistence::connect_options opts;
    opts.application_name = "clean-service api-keys";
    auto db = persistence::connect(settings.database_url, opts);
    switch (call.cmd) {
      case config::command::api_keys_create:
        return create(*db, call.name);
      case config::command::api_keys_list:
        return list(*db);
      case config::command::api_keys_revoke:
        return revoke(*db, call.id, settings.api_key_cache_ttl);
      default:
        return 2;
    }
  } catch (const pqxx::undefined_table&) {
    log(spdlog::level::err, "schema_missing",
        "the api_keys table does not exist; run `clean-service migrate` first");
    return 1;
  } catch (const std::exception& e) {
    log(spdlog::level::err, "api_keys_failed", "api-keys command failed",
        {{"error", e.what()}, {"database", persistence::redact(settings.database_url)}});
    return 1;
  }
}

} // namespace clean::supervision
