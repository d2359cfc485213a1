#include "telemetry/basic_summary.hpp"

#include <nlohmann/json.hpp>

#include <cmath>
#include <string>

namespace clean::telemetry {

namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;

const std::string* label(const ClientMetric& m, const std::string& name) {
  for (const auto& l : m.label)
    if (l.name == name)
      return &l.value;
  return nullptr;
}

double value(const MetricFamily& f, const ClientMetric& m) {
  return f.type == prometheus::MetricType::Counter ? m.counter.value : m.gauge.value;
}

const MetricFamily* find(const std::vector<MetricFamily>& families, const std::string& name) {
  for (const auto& f : families)
    if (f.name == name)
      return &f;
  return nullptr;
}

/// Sums a family's samples into out[<label value>], keeping only samples
/// accepted by `keep`. Counts are whole numbers: emitted as integers.
template <class Keep>
void sum_by(const std::vector<MetricFamily>& families, const std::string& name, const std::string& by,
            nlohmann::json& out, Keep keep) {
  const auto* f = find(families, name);
  if (!f)
    return;
  for (const auto& m : f->metric) {
    const auto* key = label(m, by);
    if (!key || !keep(m))
      continue;
    auto current = out.contains(*key) ? out[*key].get<int64_t>() : 0;
    out[*key] = current + static_cast<int64_t>(std::llround(value(*f, m)));
  }
}

void sum_by(const std::vector<MetricFamily>& families, const std::string& name, const std::string& by,
            nlohmann::json& out) {
  sum_by(families, name, by, out, [](const ClientMetric&) { return true; });
}

nlohmann::json reminders(const std::vector<MetricFamily>& families) {
  nlohmann::json by_status = nlohmann::json::object();
  sum_by(families, "email_notifications_total", "status", by_status, [](const ClientMetric& m) {
    const auto* t = label(m, "template");
    return t && (*t == "booking_reminder" || *t == "invoice_reminder");
  });
  auto count = [&](const char* status) {
    return by_status.value(status, int64_t{0});
  };
  return {{"sent", count("delivered")},
          {"failed", count("failed") + count("dead")},
          {"skipped", count("skipped")},
          {"deferred", count("deferred")}};
}

const char* circuit_name(double gauge) {
  if (gauge == 1)
    return "open";
  if (gauge == 2)
    return "half_open";
  return "closed";
}

/// Per job: whether its runner is up, seconds since its heartbeat and its
/// last success (null when it never succeeded), and whether it is overdue.
nlohmann::json jobs(const std::vector<MetricFamily>& families, double now) {
  nlohmann::json out = nlohmann::json::object();
  auto each = [&](const char* name, auto apply) {
    if (const auto* f = find(families, name))
      for (const auto& m : f->metric)
        if (const auto* job = label(m, "job"))
          apply(out[*job], m.gauge.value);
  };
  each("job_runner_up", [](nlohmann::json& j, double v) { j["up"] = v == 1; });
  each("job_last_heartbeat_timestamp", [now](nlohmann::json& j, double v) {
    j["heartbeat_age_seconds"] = v > 0 ? nlohmann::json(std::round(now - v)) : nlohmann::json(nullptr);
  });
  each("job_last_success_timestamp", [now](nlohmann::json& j, double v) {
    j["seconds_since_success"] = v > 0 ? nlohmann::json(std::round(now - v)) : nlohmann::json(nullptr);
  });
  each("job_overdue", [](nlohmann::json& j, double v) { j["overdue"] = v == 1; });
  return out;
}

} // namespace

nlohmann::json basic_summary(const std::vector<MetricFamily>& families, double now_unix) {
  nlohmann::json emails = nlohmann::json::object();
  sum_by(families, "email_notifications_total", "status", emails);
  nlohmann::json webhooks = nlohmann::json::object();
  sum_by(families, "webhook_events_total", "result", webhooks);
  nlohmann::json email_dlq = nlohmann::json::object();
  sum_by(families, "email_dlq_messages", "status", email_dlq);
  nlohmann::json outbox = nlohmann::json::object();
  sum_by(families, "outbox_queue_messages", "status", outbox);
  nlohmann::json circuits = nlohmann::json::object();
  if (const auto* f = find(families, "circuit_state"))
    for (const auto& m : f->metric)
      if (const auto* c = label(m, "circuit"))
        circuits[*c] = circuit_name(m.gauge.value);
  return {{"scope", "counters are this process's since it started; queue depths come from the database"},
          {"reminders", reminders(families)},
          {"emails", emails},
          {"webhooks", webhooks},
          {"dead_letters", {{"email", email_dlq}, {"outbox", outbox}}},
          {"circuits", circuits},
          {"jobs", jobs(families, now_unix)}};
}

} // namespace clean::telemetry
