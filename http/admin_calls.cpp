#include "http/admin_calls.hpp"

#include "telemetry/logging.hpp"
#include "telemetry/metrics.hpp"

#include <caf/make_message.hpp>
#include <prometheus/counter.h>
#include <prometheus/family.h>

namespace clean::http {

using telemetry::log;

namespace {
/// The answer waits for its audit row, but not long: while the database
/// is down (or the process is stopping) the log line is the record.
constexpr std::chrono::milliseconds audit_budget{2000};
} // namespace

persistence::admin_origin admin_call::origin(const admin_caller& who) const {
  return {who.user, request_id, client};
}

void admin_call::finish(const responder& reply, response res, std::string_view outcome) const {
  if (cfg->metrics)
    cfg->metrics->requests->Add({{"route", route}, {"outcome", std::string{outcome}}}).Increment();
  reply(std::move(res));
}

void admin_call::audit_and_reply(const admin_caller& who, response res, const responder& reply,
                                 std::string_view outcome) const {
  persistence::admin_audit_entry entry;
  entry.origin = origin(who);
  entry.action = action;
  entry.target = target;
  entry.reason = reason.empty() ? who.break_glass_reason : reason;
  entry.break_glass_session_id = who.break_glass_session;
  entry.status = static_cast<int32_t>(res.result_int());
  entry.outcome = std::string{outcome};
  log(spdlog::level::info, "admin_audit", "admin write",
      {{"actor", entry.origin.user},
       {"action", entry.action},
       {"target", entry.target},
       {"status", entry.status},
       {"outcome", entry.outcome},
       {"reason", entry.reason},
       {"break_glass_session_id", entry.break_glass_session_id},
       {"client", client},
       {"request_id", request_id}});
  // Answered only once the row is stored, so what a client saw succeed is
  // in the audit log. The answer may come from any thread; the gateway is
  // only used from its own.
  auto self = *this;
  auto shared = std::make_shared<response>(std::move(res));
  auto outcome_label = std::string{outcome};
  actors->post([self, entry = std::move(entry), shared, reply, outcome_label]() mutable {
    auto done = [self, shared, reply, outcome_label] {
      self.finish(reply, std::move(*shared), outcome_label);
    };
    self.database(
        "admin.audit", caf::make_message(audit_atom::value, std::move(entry)), [done](bool) { done(); },
        [self, done](caf::error& err) {
          log(spdlog::level::err, "admin_audit_failed",
              "could not store an admin audit row; the admin_audit log line above is the record",
              {{"action", self.action}, {"request_id", self.request_id}, {"error", to_string(err)}});
          done();
        },
        audit_budget);
  });
}

std::string_view outcome_of(const response& res) {
  auto status = res.result_int();
  if (status < 400)
    return "success";
  if (status == 401)
    return "unauthorized";
  if (status == 403)
    return "forbidden";
  if (status == 429)
    return "throttled";
  if (status < 500)
    return "client_error";
  return "error";
}

} // namespace clean::http
