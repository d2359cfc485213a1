#define CAF_SUITE config.cli
#include <caf/test/unit_test_impl.hpp>

#include "config/cli.hpp"

using namespace clean::config;

namespace {
invocation call(std::vector<std::string> args) {
  return parse_command_line(args);
}
} // namespace

CAF_TEST(known commands) {
  CAF_CHECK(call({"serve"}).cmd == command::serve);
  CAF_CHECK(call({"migrate"}).cmd == command::migrate);
  CAF_CHECK(call({"migrate", "--status"}).cmd == command::migrate_status);
  CAF_CHECK(call({"--help"}).cmd == command::help);
  CAF_CHECK(call({"-h"}).cmd == command::help);
  CAF_CHECK(call({"--version"}).cmd == command::version);
}

CAF_TEST(unknown input is a usage error that explains itself) {
  auto r = call({});
  CAF_CHECK(r.cmd == command::usage_error);
  r = call({"frobnicate"});
  CAF_CHECK(r.cmd == command::usage_error);
  CAF_CHECK(r.error.find("frobnicate") != std::string::npos);
  r = call({"--verbose"});
  CAF_CHECK(r.cmd == command::usage_error);
  CAF_CHECK(r.error.find("--verbose") != std::string::npos);
  CAF_CHECK(call({"serve", "--port=1"}).cmd == command::usage_error);
  CAF_CHECK(call({"migrate", "--force"}).cmd == command::usage_error);
  CAF_CHECK(call({"--version", "extra"}).cmd == command::usage_error);
}

CAF_TEST(usage lists commands and variables) {
  auto text = usage_text();
  for (auto part : {"serve", "migrate --status", "--help", "--version", "DATABASE_URL", "METRICS_TOKEN"}) {
    if (!(text.find(part) != std::string::npos))
      CAF_MESSAGE("failed for: " << part);
    CAF_CHECK(text.find(part) != std::string::npos);
  }
}
