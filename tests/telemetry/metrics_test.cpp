#define CAF_SUITE telemetry.metrics
#include <caf/test/unit_test_impl.hpp>

#include "telemetry/metrics.hpp"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>

#include <regex>
#include <sstream>

using namespace clean::telemetry;

namespace {

bool has_line(const std::string& text, const std::string& line) {
  std::istringstream in{text};
  for (std::string l; std::getline(in, l);)
    if (l == line)
      return true;
  return false;
}

bool has_prefix_line(const std::string& text, const std::string& prefix) {
  std::istringstream in{text};
  for (std::string l; std::getline(in, l);)
    if (l.rfind(prefix, 0) == 0)
      return true;
  return false;
}

} // namespace

CAF_TEST(renders the runbook metrics in text format) {
  metrics_registry m{"1.2.3"};
  auto& h = m.http().latency->Add({{"method", "GET"}, {"path", "/v1/bookings/{id}"}, {"status_class", "2xx"}},
                                  latency_buckets());
  h.Observe(0.003);
  h.Observe(0.2);
  m.http().errors_5xx->Add({{"path", "/readyz"}}).Increment();
  auto text = m.render();

  CAF_CHECK(has_line(text, "# TYPE http_request_latency_seconds histogram"));
  CAF_CHECK(has_line(
      text,
      R"(http_request_latency_seconds_count{method="GET",path="/v1/bookings/{id}",status_class="2xx"} 2)"));
  CAF_CHECK(has_line(
      text,
      R"(http_request_latency_seconds_bucket{method="GET",path="/v1/bookings/{id}",status_class="2xx",le="0.005"} 1)"));
  CAF_CHECK(has_line(
      text,
      R"(http_request_latency_seconds_bucket{method="GET",path="/v1/bookings/{id}",status_class="2xx",le="+Inf"} 2)"));
  CAF_CHECK(has_line(text, "# TYPE http_5xx_total counter"));
  CAF_CHECK(has_line(text, R"(http_5xx_total{path="/readyz"} 1)"));
  CAF_CHECK(has_line(text, R"(clean_service_build_info{version="1.2.3"} 1)"));
}

CAF_TEST(renders process metrics) {
  metrics_registry m{"x"};
  auto text = m.render();
  for (auto name : {"process_cpu_seconds_total", "process_start_time_seconds",
                    "process_resident_memory_bytes", "process_open_fds", "process_max_fds"}) {
    CAF_MESSAGE("process metric " << name);
    auto type = std::string{name}.ends_with("_total") ? " counter" : " gauge";
    CAF_CHECK(has_line(text, std::string{"# TYPE "} + name + type));
    CAF_CHECK(has_prefix_line(text, std::string{name} + " "));
  }
  // Sanity of values: started in the past, some memory, some fds.
  std::smatch match;
  CAF_REQUIRE(std::regex_search(text, match, std::regex{R"(\nprocess_resident_memory_bytes (\S+))"}));
  CAF_CHECK_GREATER(std::stod(match[1]), 1e6);
  CAF_REQUIRE(std::regex_search(text, match, std::regex{R"(\nprocess_open_fds (\S+))"}));
  CAF_CHECK_GREATER(std::stod(match[1]), 2);
  CAF_REQUIRE(std::regex_search(text, match, std::regex{R"(\nprocess_start_time_seconds (\S+))"}));
  CAF_CHECK_GREATER(std::stod(match[1]), 1.7e9);
}

CAF_TEST(every sample line is well formed) {
  metrics_registry m{"v"};
  m.http().errors_5xx->Add({{"path", "/x"}}).Increment();
  auto text = m.render();
  std::istringstream in{text};
  std::regex sample{R"(^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? \S+$)"};
  size_t samples = 0;
  for (std::string l; std::getline(in, l);) {
    if (l.empty() || l[0] == '#')
      continue;
    ++samples;
    if (!(std::regex_match(l, sample)))
      CAF_MESSAGE("failed for: " << l);
    CAF_CHECK(std::regex_match(l, sample));
  }
  CAF_CHECK_GREATER(samples, 5u);
}
