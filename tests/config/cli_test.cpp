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
  CAF_CHECK(call({"api-keys", "list"}).cmd == command::api_keys_list);
  auto create = call({"api-keys", "create", "--name", "billing app"});
  CAF_CHECK(create.cmd == command::api_keys_create);
  CAF_CHECK_EQUAL(create.name, "billing app");
  CAF_CHECK_EQUAL(call({"api-keys", "create", "--name=ci"}).name, "ci");
  auto revoke = call({"api-keys", "revoke", "12"});
  CAF_CHECK(revoke.cmd == command::api_keys_revoke);
  CAF_CHECK_EQUAL(revoke.id, 12);
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
  for (auto args : std::vector<std::vector<std::string>>{{"api-keys"},
                                                         {"api-keys", "create"},
                                                         {"api-keys", "create", "--name"},
                                                         {"api-keys", "revoke"},
                                                         {"api-keys", "revoke", "x1"},
                                                         {"api-keys", "revoke", "0"},
                                                         {"api-keys", "list", "extra"},
                                                         {"api-keys", "rotate"}})
    CAF_CHECK(call(args).cmd == command::usage_error);
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

CAF_TEST(jobs commands) {
  auto run = call({"jobs", "run", "--job", "backup", "--once"});
  CAF_CHECK(run.cmd == command::jobs_run);
  CAF_CHECK_EQUAL(run.name, "backup");
  CAF_CHECK(call({"jobs", "run", "--job=nps-send", "--once"}).cmd == command::jobs_run);
  CAF_CHECK(call({"jobs", "list"}).cmd == command::jobs_list);
  auto status = call({"jobs", "status", "--json"});
  CAF_CHECK(status.cmd == command::jobs_status);
  CAF_CHECK(status.json);
  CAF_CHECK(call({"jobs-runner"}).cmd == command::jobs_runner);
  auto http_only = call({"serve", "--no-jobs"});
  CAF_CHECK(http_only.cmd == command::serve);
  CAF_CHECK(http_only.no_jobs);
  CAF_CHECK(!call({"serve"}).no_jobs);
  for (auto args : std::vector<std::vector<std::string>>{{"jobs"},
                                                         {"jobs", "run", "--once"},
                                                         {"jobs", "run", "--job", "backup"},
                                                         {"jobs", "status", "--yaml"},
                                                         {"jobs", "start"},
                                                         {"serve", "--jobs"}})
    CAF_CHECK(call(args).cmd == command::usage_error);
}

CAF_TEST(check only) {
  auto checked = call({"--check", "jobs", "run", "--job", "email-dlq", "--once"});
  CAF_CHECK(checked.cmd == command::jobs_run);
  CAF_CHECK(checked.check_only);
  CAF_CHECK_EQUAL(checked.name, "email-dlq");
  CAF_CHECK(!call({"jobs", "run", "--job", "email-dlq", "--once"}).check_only);
  // What the command itself would refuse, --check refuses too.
  CAF_CHECK(call({"--check", "jobs", "run", "--job", "email-dlq"}).cmd == command::usage_error);
  CAF_CHECK(call({"--check", "migrate", "--force"}).cmd == command::usage_error);
  CAF_CHECK(call({"--check"}).cmd == command::usage_error);
  CAF_CHECK(call({"--check", "--help"}).cmd == command::usage_error);
}

CAF_TEST(bench mailbox) {
  auto b = call({"bench", "mailbox"});
  CAF_CHECK(b.cmd == command::bench_mailbox);
  CAF_CHECK_EQUAL(b.bench.mode, "fanin");
  CAF_CHECK_EQUAL(b.bench.target, "supervised");
  CAF_CHECK_EQUAL(b.bench.senders, 2);
  CAF_CHECK_EQUAL(b.bench.address, "none");
  CAF_CHECK_EQUAL(call({"bench", "mailbox", "--address", "self"}).bench.address, "self");
  CAF_CHECK_EQUAL(b.bench.element, "pooled");
  CAF_CHECK_EQUAL(call({"bench", "mailbox", "--element", "caf"}).bench.element, "caf");
  auto c = call(
      {"bench", "mailbox", "--mode", "call", "--target", "bare", "--messages", "1000", "--senders", "4"});
  CAF_CHECK(c.cmd == command::bench_mailbox);
  CAF_CHECK_EQUAL(c.bench.mode, "call");
  CAF_CHECK_EQUAL(c.bench.target, "bare");
  CAF_CHECK_EQUAL(c.bench.messages, 1000u);
  CAF_CHECK_EQUAL(c.bench.senders, 4);
  for (auto args : std::vector<std::vector<std::string>>{{"bench"},
                                                         {"bench", "http"},
                                                         {"bench", "mailbox", "--senders", "0"},
                                                         {"bench", "mailbox", "--senders", "-3"},
                                                         {"bench", "mailbox", "--messages"},
                                                         {"bench", "mailbox", "--mode", "fanout"},
                                                         {"bench", "mailbox", "--address", "sender"},
                                                         {"bench", "mailbox", "--element", "malloc"}})
    CAF_CHECK(call(args).cmd == command::usage_error);
}
