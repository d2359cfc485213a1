#include "http/health_report.hpp"

#include "http/router.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace clean::http {

namespace {

bool contains(const std::vector<std::string>& names, std::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

std::string format_ms(double ms) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f ms", ms);
  return buf;
}

} // namespace

namespace {

void collect_problems(const nlohmann::json& node, supervisor_status& out) {
  if (!node.is_object())
    return;
  if (node.contains("state") && node.value("restart", "") != "temporary") {
    std::string problem;
    auto state = node.value("state", "");
    auto path = node.value("path", "?");
    if (state != "running") {
      problem = path + " is " + state;
      if (node.contains("last_reason") && node["last_reason"].is_string())
        problem += " (" + node["last_reason"].get<std::string>() + ")";
    } else if (node.contains("last_heartbeat_age_ms") && node["last_heartbeat_age_ms"].is_number() &&
               node.value("heartbeat_ttl_ms", 0) > 0 &&
               node["last_heartbeat_age_ms"].get<int64_t>() > node.value("heartbeat_ttl_ms", int64_t{0})) {
      problem = path + " missed its heartbeat (" +
                std::to_string(node["last_heartbeat_age_ms"].get<int64_t>()) + " ms > ttl " +
                std::to_string(node.value("heartbeat_ttl_ms", 0)) + " ms)";
    }
    if (node.contains("error"))
      problem = path + " did not report: " + node.value("error", "");
    if (!problem.empty())
      (node.value("critical", true) ? out.critical_problems : out.other_problems).push_back(problem);
  }
  if (node.contains("children"))
    for (auto& child : node["children"])
      collect_problems(child, out);
}

} // namespace

supervisor_status supervisor_status_from(const std::string& tree_json) {
  supervisor_status out;
  auto tree = nlohmann::json::parse(tree_json, nullptr, false);
  if (!tree.is_object()) {
    out.error = "unreadable supervision tree";
    return out;
  }
  out.known = true;
  collect_problems(tree, out);
  return out;
}

std::vector<check_result> readiness_checks(const readiness_report& r,
                                           const std::vector<std::string>& excluded,
                                           const supervisor_status* supervisor) {
  std::vector<check_result> out;
  const auto& db = r.database;

  check_result shutdown{"shutdown", !r.shutting_down, false,
                        r.shutting_down ? "draining: the service is shutting down" : "not shutting down"};
  out.push_back(shutdown);

  check_result database{"database", db.ok, false,
                        db.ok ? "round trip " + format_ms(db.latency_ms) : db.error};
  out.push_back(database);

  check_result migrations{"migrations", false, false, ""};
  if (!db.ok) {
    migrations.detail = "unknown: database unreachable";
  } else {
    migrations.ok = db.schema_version >= r.migrations_head;
    migrations.detail = "current " + std::to_string(db.schema_version) + ", head " +
                        std::to_string(r.migrations_head) +
                        (migrations.ok ? "" : "; run `clean-service migrate`");
  }
  out.push_back(migrations);

  if (supervisor != nullptr) {
    check_result sup{"supervisor", supervisor->known && supervisor->critical_problems.empty(), false, ""};
    if (!supervisor->known) {
      sup.detail = "the supervision tree did not answer: " + supervisor->error;
    } else if (supervisor->critical_problems.empty() && supervisor->other_problems.empty()) {
      sup.detail = "every supervised actor is running";
    } else {
      for (auto& p : supervisor->critical_problems)
        sup.detail += (sup.detail.empty() ? "" : "; ") + p;
      for (auto& p : supervisor->other_problems)
        sup.detail += (sup.detail.empty() ? "" : "; ") + p + " (not critical)";
    }
    out.push_back(sup);
  }

  out.push_back({"jobs", !r.jobs.checked || r.jobs.ok, false, r.jobs.detail});

  for (auto& c : out)
    c.excluded = contains(excluded, c.name);
  return out;
}

bool all_ok(const std::vector<check_result>& checks) {
  return std::all_of(checks.begin(), checks.end(), [](auto& c) { return c.ok || c.excluded; });
}

std::string readiness_json(const readiness_report& r, const std::vector<check_result>& checks,
                           const supervisor_status* supervisor) {
  auto find = [&](std::string_view name) -> const check_result& {
    return *std::find_if(checks.begin(), checks.end(), [&](auto& c) { return c.name == name; });
  };
  auto base = [](const check_result& c) {
    nlohmann::ordered_json j{{"ok", c.ok}};
    if (c.excluded)
      j["excluded"] = true;
    return j;
  };
  const auto& db = r.database;
  nlohmann::ordered_json body;
  body["status"] = all_ok(checks) ? "ok" : "fail";

  auto database = base(find("database"));
  database["latency_ms"] = std::round(db.latency_ms * 100) / 100;
  database["age_ms"] = r.database_age_ms;
  if (!db.ok)
    database["error"] = db.error;
  body["database"] = std::move(database);

  auto migrations = base(find("migrations"));
  if (db.ok)
    migrations["current"] = db.schema_version;
  else
    migrations["current"] = nullptr;
  migrations["head"] = r.migrations_head;
  body["migrations"] = std::move(migrations);

  auto jobs = base(find("jobs"));
  jobs["checked"] = r.jobs.checked;
  jobs["detail"] = r.jobs.detail;
  if (r.jobs.checked) {
    jobs["runner_heartbeat_age_seconds"] =
        r.jobs.runner_age_seconds < 0
            ? nlohmann::ordered_json(nullptr)
            : nlohmann::ordered_json(std::round(r.jobs.runner_age_seconds * 10) / 10);
    jobs["heartbeat_ttl_seconds"] = r.jobs.ttl_seconds;
    jobs["stale"] = r.jobs.stale;
    jobs["failing"] = r.jobs.failing;
    jobs["overdue"] = r.jobs.overdue;
  }
  body["jobs"] = std::move(jobs);

  if (supervisor != nullptr) {
    auto sup = base(find("supervisor"));
    if (!supervisor->known)
      sup["error"] = supervisor->error;
    sup["problems"] = supervisor->critical_problems;
    sup["degraded"] = supervisor->other_problems;
    body["supervisor"] = std::move(sup);
  }

  body["shutting_down"] = r.shutting_down;
  return body.dump();
}

std::string verbose_text(std::string_view endpoint, const std::vector<check_result>& checks) {
  std::string out;
  for (auto& c : checks) {
    if (c.excluded) {
      out += "[+]" + c.name + " excluded: ok\n";
      continue;
    }
    out += (c.ok ? "[+]" : "[-]") + c.name + (c.ok ? " ok" : " failed") + ": " + c.detail + "\n";
  }
  out += std::string{endpoint} + (all_ok(checks) ? " check passed\n" : " check failed\n");
  return out;
}

std::vector<std::string> excluded_checks(std::string_view query) {
  std::vector<std::string> names;
  for (auto& value : query_values(query, "exclude")) {
    std::string_view rest = value;
    while (!rest.empty()) {
      auto comma = rest.find(',');
      auto name = rest.substr(0, comma);
      if (!name.empty())
        names.emplace_back(name);
      if (comma == std::string_view::npos)
        break;
      rest.remove_prefix(comma + 1);
    }
  }
  return names;
}

} // namespace clean::http
