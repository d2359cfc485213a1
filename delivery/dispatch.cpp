#include "delivery/dispatch.hpp"

#include "delivery/files.hpp"
#include "delivery/mail.hpp"
#include "persistence/digest.hpp"
#include "persistence/job_work.hpp"

#include <nlohmann/json.hpp>
#include <pqxx/except>

#include <algorithm>
#include <chrono>
#include <map>
#include <optional>
#include <random>

namespace clean::delivery {

namespace {

enum class result { delivered, duplicate, skipped, deferred };

/// What deliver() found, with how long to wait when deferred.
struct delivery {
  result r = result::delivered;
  std::chrono::milliseconds defer_for{0};
};

std::string csv_field(const std::string& v) {
  if (v.find_first_of(",\"\r\n") == std::string::npos)
    return v;
  std::string out = "\"";
  for (char c : v) {
    if (c == '"')
      out += '"';
    out.push_back(c);
  }
  return out + "\"";
}

/// What a provider's answer means for the event: delivered, deferred
/// (breaker open), or a failure — permanent when the provider rejected it.
delivery outcome_of(const email_send_result& sent, const char* channel) {
  if (sent.deferred)
    return {result::deferred, sent.retry_after};
  switch (sent.outcome.status) {
    case send_status::sent:
      return {result::delivered};
    case send_status::duplicate:
      return {result::duplicate};
    case send_status::rejected:
      throw delivery_failure(true,
                             std::string{"rejected by the "} + channel + " provider: " + sent.outcome.detail);
    case send_status::failed:
    case send_status::timeout:
      break;
  }
  throw delivery_failure(false, std::string{channel} + " provider " + to_string(sent.outcome.status) + ": " +
                                    sent.outcome.detail);
}

/// What a notification's template needs; a payload naming nothing that
/// exists can never be sent (permanent).
nlohmann::json context_of(pqxx::connection_base& conn, const nlohmann::json& payload,
                          const std::string& name) {
  try {
    return persistence::job_work::email_context(conn, payload);
  } catch (const std::invalid_argument& e) {
    throw delivery_failure(true, std::string{"template error ("} + name + "): " + e.what());
  }
}

/// A template that cannot be rendered can never be sent (permanent).
template <class Render>
auto rendered(const std::string& name, Render render) {
  try {
    return render();
  } catch (const template_error& e) {
    throw delivery_failure(true, "template error (" + name + "): " + e.what());
  }
}

delivery deliver_email(pqxx::connection_base& conn, const dispatch_config& cfg,
                       const persistence::claimed_event& ev, const nlohmann::json& payload) {
  auto name = payload.value("template", std::string{});
  auto ctx = context_of(conn, payload, name);
  auto email = rendered(name, [&] { return render(name, ctx, cfg.templates); });
  if (!email)
    return {result::skipped};
  if (email->to_address.find('@') == std::string::npos)
    throw delivery_failure(true, "bad address: '" + email->to_address + "'");
  if (!cfg.send_email)
    return {result::deferred, std::chrono::seconds{30}};
  outbound_email out;
  out.message_id = message_id_for(ev.dedupe_key);
  out.template_name = name;
  out.from_header = cfg.email_from;
  out.from_address = address_of(cfg.email_from);
  out.to_name = email->to_name;
  out.to_address = email->to_address;
  out.subject = email->subject;
  out.text = email->text;
  out.html = email->html;
  auto now =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  out.mime = build_message(cfg.email_from, out.message_id, *email, now);
  return outcome_of(cfg.send_email(out), "email");
}

delivery deliver_sms(pqxx::connection_base& conn, const dispatch_config& cfg,
                     const persistence::claimed_event& ev, const nlohmann::json& payload) {
  auto name = payload.value("template", std::string{});
  auto ctx = context_of(conn, payload, name);
  auto text = rendered(name, [&] { return render_sms(name, ctx, cfg.templates); });
  const auto& phone = ctx["customer"]["phone"];
  if (!text || !phone.is_string() || phone.get<std::string>().empty())
    return {result::skipped}; // cancelled since, or the customer has no phone any more
  if (!cfg.send_sms)
    return {result::deferred, std::chrono::seconds{30}};
  outbound_email out;
  out.message_id = message_id_for(ev.dedupe_key);
  out.template_name = name;
  out.to_name = ctx["customer"].value("name", std::string{});
  out.to_address = phone.get<std::string>();
  out.text = *text;
  return outcome_of(cfg.send_sms(out), "SMS");
}

/// The event as the integration receives it; its id is stable per outbox
/// event, so a receiver can drop a redelivery.
delivery deliver_webhook(const dispatch_config& cfg, const persistence::claimed_event& ev,
                         const nlohmann::json& payload) {
  // An instance without INTEGRATION_WEBHOOK_URL (configuration drift) must
  // not mark the integration's events delivered: it leaves them waiting.
  if (!cfg.webhooks)
    return {result::deferred, std::chrono::seconds{300}};
  auto id = "evt_" + persistence::sha256_hex(ev.dedupe_key).substr(0, 24);
  nlohmann::json body = {{"id", id},
                         {"type", payload.value("type", std::string{})},
                         {"created_at", payload.value("created_at", std::string{})},
                         {"data", payload.value("data", nlohmann::json::object())}};
  auto out = cfg.webhooks->post(id, body.dump());
  return outcome_of({out, false, {}}, "webhook");
}

delivery deliver_export(pqxx::connection_base& conn, const dispatch_config& cfg,
                        const nlohmann::json& payload) {
  auto scope = payload.value("scope", std::string{});
  auto format = payload.value("format", std::string{"csv"});
  if (scope != "invoice" || !payload.contains("invoice_id") || (format != "csv" && format != "json"))
    throw delivery_failure(true, "unsupported export: " + payload.dump());
  auto id = payload["invoice_id"].get<int64_t>();
  std::vector<std::vector<std::string>> rows;
  try {
    rows = persistence::job_work::invoice_export(conn, id);
  } catch (const std::invalid_argument& e) {
    throw delivery_failure(true, e.what());
  }
  std::string content;
  if (format == "csv") {
    for (const auto& row : rows) {
      for (size_t i = 0; i < row.size(); ++i)
        content += (i ? "," : "") + csv_field(row[i]);
      content += "\r\n";
    }
  } else {
    nlohmann::json obj;
    for (size_t i = 0; i < rows[0].size(); ++i)
      obj[rows[0][i]] = rows[1][i];
    content = obj.dump() + "\n";
  }
  write_file_atomically(cfg.storage_dir + "/exports", "invoice-" + std::to_string(id) + "." + format, content,
                        write_mode::replace);
  return {result::delivered};
}

delivery deliver(pqxx::connection_base& conn, const dispatch_config& cfg,
                 const persistence::claimed_event& ev, const nlohmann::json& payload) {
  if (!payload.is_object())
    throw delivery_failure(true, "payload is not a JSON object");
  if (ev.kind == "email")
    return deliver_email(conn, cfg, ev, payload);
  if (ev.kind == "export")
    return deliver_export(conn, cfg, payload);
  if (ev.kind == "sms")
    return deliver_sms(conn, cfg, ev, payload);
  if (ev.kind == "webhook")
    return deliver_webhook(cfg, ev, payload);
  throw delivery_failure(true, "no delivery adapter for kind '" + ev.kind + "' in this build");
}

int max_attempts(const dispatch_config& cfg, const std::string& kind) {
  if (kind == "export")
    return cfg.export_max_attempts;
  if (kind == "sms")
    return cfg.sms_max_attempts;
  if (kind == "webhook")
    return cfg.webhook_max_attempts;
  return cfg.email_max_attempts;
}

} // namespace

int64_t backoff_seconds(int attempts) {
  thread_local std::mt19937 rng{std::random_device{}()};
  double base = 30.0 * static_cast<double>(1LL << std::clamp(attempts - 1, 0, 20));
  base = std::min(base, 3600.0);
  std::uniform_real_distribution<double> jitter{0.8, 1.2};
  return std::max<int64_t>(1, static_cast<int64_t>(base * jitter(rng)));
}

namespace {

/// The bounded `template` label of an email event ("unknown" otherwise).
std::string template_of(const persistence::claimed_event& ev, const nlohmann::json& payload) {
  static const char* known[] = {"booking_confirmation", "booking_reminder", "booking_completed",
                                "booking_cancelled",    "invoice_issued",   "invoice_reminder",
                                "nps_survey",           "payment_failed"};
  if (ev.kind != "email" || !payload.is_object())
    return "";
  auto name = payload.value("template", std::string{});
  for (const char* k : known)
    if (name == k)
      return name;
  return "unknown";
}

/// Delivers one claimed event and records the outcome. Only a lost database
/// connection escapes (it fails the run); anything else about this event
/// is its own failure, so one bad event cannot stall the rest of a batch.
std::string deliver_one(pqxx::connection_base& conn, const dispatch_config& cfg,
                        const persistence::claimed_event& ev, const nlohmann::json& payload,
                        dispatch_report& report) {
  namespace od = persistence::outbox_delivery;
  std::optional<delivery_failure> failure;
  try {
    auto d = deliver(conn, cfg, ev, payload);
    if (d.r == result::deferred) {
      auto seconds = std::max<int64_t>(1, (d.defer_for.count() + 999) / 1000);
      if (!od::defer(conn, ev, seconds))
        return "lease_lost";
      ++report.deferred;
      report.defer_seconds = seconds;
      return "deferred";
    }
    if (!od::delivered(conn, ev))
      return "lease_lost";
    switch (d.r) {
      case result::duplicate:
        ++report.duplicates;
        return "duplicate";
      case result::skipped:
        ++report.skipped;
        return "skipped";
      default:
        ++report.delivered;
        return "delivered";
    }
  } catch (const pqxx::broken_connection&) {
    throw;
  } catch (const delivery_failure& f) {
    failure = f;
  } catch (const nlohmann::json::exception& e) {
    failure.emplace(true, std::string{"malformed payload: "} + e.what());
  } catch (const std::exception& e) {
    failure.emplace(false, e.what());
  }
  if (failure->permanent() || ev.attempts >= max_attempts(cfg, ev.kind)) {
    if (!od::dead(conn, ev, failure->what()))
      return "lease_lost";
    ++report.dead;
    return "dead";
  }
  if (!od::retry(conn, ev, backoff_seconds(ev.attempts), failure->what()))
    return "lease_lost";
  ++report.retried;
  return "retry";
}

} // namespace

dispatch_report dispatch(pqxx::connection_base& conn, const dispatch_config& cfg,
                         const persistence::outbox_selector& sel, const std::function<void()>& heartbeat,
                         const outcome_sink& count, int max_batches) {
  namespace od = persistence::outbox_delivery;
  dispatch_report report;
  for (int batch = 0; batch < max_batches; ++batch) {
    auto events = od::claim(conn, sel);
    std::map<std::string, int64_t> deferred_kinds; // kind -> seconds its provider asked to wait
    for (const auto& ev : events) {
      auto payload = nlohmann::json::parse(ev.payload, nullptr, false);
      auto tmpl = template_of(ev, payload);
      std::string outcome;
      if (auto open = deferred_kinds.find(ev.kind); open != deferred_kinds.end()) {
        // That provider's breaker is open: the rest of its events in the
        // batch wait with it instead of each asking again.
        outcome = od::defer(conn, ev, open->second) ? "deferred" : "lease_lost";
        report.deferred += outcome == "deferred";
      } else {
        outcome = deliver_one(conn, cfg, ev, payload, report);
        if (outcome == "deferred")
          deferred_kinds[ev.kind] = report.defer_seconds;
      }
      if (count)
        count(ev.kind, outcome, tmpl);
      // Per event: a batch of slow sends must not look like a hung job.
      if (heartbeat)
        heartbeat();
    }
    if (static_cast<int>(events.size()) < sel.limit || !deferred_kinds.empty())
      break;
  }
  return report;
}

} // namespace clean::delivery
