#define CAF_SUITE telemetry.logging
#include <caf/test/unit_test_impl.hpp>

#include "telemetry/logging.hpp"

#include <spdlog/logger.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <sstream>
#include <string>
#include <vector>

using namespace clean::telemetry;

namespace {

/// Keeps what `log` hands it; flush writes it as the server's batch does.
struct recording_batch : line_batch {
  std::vector<std::string> kept;
  int flushes = 0;

  void add(spdlog::level::level_enum, std::string line) override { kept.push_back(std::move(line)); }
  void flush() override {
    ++flushes;
    std::string joined;
    for (const auto& l : kept)
      joined += (joined.empty() ? "" : "\n") + l;
    write_lines(spdlog::level::info, joined);
    kept.clear();
  }
};

struct fixture {
  std::ostringstream written;
  recording_batch batch;

  fixture() {
    auto logger =
        std::make_shared<spdlog::logger>("test", std::make_shared<spdlog::sinks::ostream_sink_st>(written));
    logger->set_pattern("%v");
    logger->set_level(spdlog::level::info);
    spdlog::set_default_logger(logger);
    batch_lines_on_this_thread(&batch);
  }
  ~fixture() { batch_lines_on_this_thread(nullptr); }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(logging_tests, fixture)

CAF_TEST(lines below err wait in the batch of their thread) {
  log(spdlog::level::info, "one", "first");
  log(spdlog::level::warn, "two", "second");
  CAF_CHECK_EQUAL(batch.kept.size(), 2u);
  CAF_CHECK_EQUAL(written.str(), "");
  batch.flush();
  auto out = written.str();
  CAF_CHECK_LESS(out.find("first"), out.find("second"));
}

CAF_TEST(an error line writes the batch first and is not held back) {
  log(spdlog::level::info, "before", "earlier line");
  log(spdlog::level::err, "failed", "the error");
  CAF_CHECK_EQUAL(batch.flushes, 1);
  CAF_CHECK(batch.kept.empty());
  auto out = written.str();
  CAF_REQUIRE_NOT_EQUAL(out.find("the error"), std::string::npos);
  CAF_CHECK_LESS(out.find("earlier line"), out.find("the error"));
}

CAF_TEST(lines the level filters out are neither kept nor written) {
  log(spdlog::level::debug, "quiet", "not wanted");
  CAF_CHECK(batch.kept.empty());
  CAF_CHECK_EQUAL(written.str(), "");
}

CAF_TEST(without a batch a line is written at once) {
  batch_lines_on_this_thread(nullptr);
  log(spdlog::level::info, "direct", "straight out");
  CAF_CHECK(batch.kept.empty());
  CAF_CHECK_NOT_EQUAL(written.str().find("straight out"), std::string::npos);
}

CAF_TEST_FIXTURE_SCOPE_END()
