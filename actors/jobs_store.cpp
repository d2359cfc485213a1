#include "actors/jobs_store.hpp"

#include "actors/interfaces.hpp"
#include "config/settings.hpp"
#include "persistence/domain_error.hpp"
#include "persistence/job_state.hpp"

#include <nlohmann/json.hpp>
#include <pqxx/nontransaction>

namespace clean {

namespace {

using persistence::api_result;
using persistence::domain_error;
namespace store = persistence::job_store;

std::string job_names() {
  std::string out;
  for (const auto& j : config::job_catalogue())
    out += (out.empty() ? "" : ", ") + j.name;
  return out;
}

api_result control(pqxx::connection_base& conn, const std::string& name, const std::string& action) {
  bool known = false;
  for (const auto& j : config::job_catalogue())
    known |= j.name == name;
  if (!known)
    throw domain_error(domain_error::kind::not_found, "unknown_job",
                       "no job named '" + name + "'; jobs: " + job_names());
  pqxx::nontransaction tx{conn};
  store::ensure(tx, name, 0);
  store::change result = store::change::done;
  if (action == "run")
    result = store::request_run(tx, name);
  else
    result = store::set_paused(tx, name, action == "pause");
  if (result == store::change::paused)
    throw domain_error(domain_error::kind::conflict, "job_paused",
                       "job '" + name + "' is paused; resume it first (POST /v1/admin/jobs/" + name +
                           "/resume)");
  nlohmann::json body = {{"job", name}, {"action", action}, {"accepted", true}};
  if (action == "run")
    body["note"] = "due now: the runner starts it at its next poll (JOB_POLL_SECONDS)";
  return {action == "run" ? uint16_t{202} : uint16_t{200}, body.dump(), false};
}

} // namespace

caf::behavior jobs_store(pqxx::connection_base& conn) {
  auto* c = &conn;
  return {
      [c](runner_beat_atom, const std::string& instance, const std::string& host, int32_t pid,
          int64_t started_at) {
        pqxx::nontransaction tx{*c};
        store::runner_heartbeat(tx, instance, host, pid, started_at);
        return true;
      },
      [c](jobs_status_atom, const std::vector<store::job_info>& jobs, int64_t ttl) {
        pqxx::nontransaction tx{*c};
        return api_result{200, store::status(tx, jobs, ttl).dump(), false};
      },
      [c](jobs_control_atom, const std::string& name, const std::string& action) {
        return control(*c, name, action);
      },
  };
}

} // namespace clean
