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

std::vector<check_result> readiness_checks(const readiness_report& r,
                                           const std::vector<std::string>& excluded) {
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

  // Honest placeholder until the job runner exists: it checks nothing.
  out.push_back({"jobs", true, false, "not checked: this build has no job runner yet"});

  for (auto& c : out)
    c.excluded = contains(excluded, c.name);
  return out;
}

bool all_ok(const std::vector<check_result>& checks) {
  return std::all_of(checks.begin(), checks.end(), [](auto& c) { return c.ok || c.excluded; });
}

std::string readiness_json(const readiness_report& r, const std::vector<check_result>& checks) {
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
  jobs["checked"] = false;
  jobs["detail"] = find("jobs").detail;
  body["jobs"] = std::move(jobs);

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
