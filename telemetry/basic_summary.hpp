#pragma once

#include <nlohmann/json_fwd.hpp>
#include <prometheus/metric_family.h>

#include <vector>

namespace clean::telemetry {

/// The small JSON summary behind GET /metrics/basic, for people without
/// Prometheus: reminders, emails by status, webhook outcomes, dead-letter
/// depths, breaker states and job freshness. Built from the same families
/// /metrics renders, so the two can never disagree. `now_unix` is seconds.
nlohmann::json basic_summary(const std::vector<prometheus::MetricFamily>& families, double now_unix);

} // namespace clean::telemetry
