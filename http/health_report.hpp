#pragma once

#include "actors/interfaces.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace clean::http {

/// One line of the readiness verdict, in the order they are reported.
struct check_result {
  std::string name;
  bool ok = false;
  bool excluded = false;
  std::string detail; // human-readable, for ?verbose and logs
};

/// The supervision tree as /readyz sees it.
struct supervisor_status {
  bool known = false;                         // the root answered
  std::string error;                          // why not, when it did not
  std::vector<std::string> critical_problems; // make the instance unready
  std::vector<std::string> other_problems;    // shown, but do not fail readiness
};

/// Reads the root supervisor's tree JSON: a permanent or transient child that
/// is not running, or a running child past its heartbeat TTL, is a problem;
/// it is critical when its subtree is (http, db, jobs).
supervisor_status supervisor_status_from(const std::string& tree_json);

/// Turns the health actor's report into named checks. `excluded` holds the
/// names from `?exclude=` (unknown names are ignored, as Kubernetes does).
std::vector<check_result> readiness_checks(const readiness_report& report,
                                           const std::vector<std::string>& excluded,
                                           const supervisor_status* supervisor = nullptr);

/// Ready when every check that is not excluded passed.
bool all_ok(const std::vector<check_result>& checks);

/// The `/readyz` JSON body.
std::string readiness_json(const readiness_report& report, const std::vector<check_result>& checks,
                           const supervisor_status* supervisor = nullptr);

/// Kubernetes-style verbose text: `[+]name ok` / `[-]name failed: why`,
/// then `<endpoint> check passed|failed`.
std::string verbose_text(std::string_view endpoint, const std::vector<check_result>& checks);

/// Splits repeated and comma-separated `?exclude=` values.
std::vector<std::string> excluded_checks(std::string_view query);

} // namespace clean::http
