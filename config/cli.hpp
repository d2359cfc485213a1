#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace clean::config {

enum class command {
  serve,
  migrate,
  migrate_status,
  api_keys_create,
  api_keys_list,
  api_keys_revoke,
  jobs_runner,
  jobs_run,
  jobs_list,
  jobs_status,
  bench_mailbox,
  help,
  version,
  usage_error
};

/// `bench mailbox`: N senders -> one actor (fanin), or one caller making
/// request/response round trips (call), against a supervised, instrumented
/// actor as the service runs them or a bare CAF actor.
struct bench_options {
  std::string mode = "fanin";
  std::string target = "supervised";
  int senders = 2;
  uint64_t messages = 10'000'000;
  /// Whether fan-in messages carry their sender's address ("self", as
  /// `send` does) or none ("none", as `anon_send` and Erlang's `!`).
  std::string address = "none";
  /// Where fan-in mailbox elements come from: a block pool ("pooled") or
  /// CAF's `new`/`delete` of a plain (atom, integer) message ("caf").
  std::string element = "pooled";
};

/// What the command line asked for; `error` explains a usage_error.
struct invocation {
  invocation(command c = command::help, std::string err = {}) : cmd(c), error(std::move(err)) {}
  command cmd = command::help;
  std::string error;
  /// api-keys create: the key's name; jobs run: the job; api-keys revoke: its id.
  std::string name;
  int64_t id = 0;
  /// serve --no-jobs: HTTP only, the jobs run in another process.
  bool no_jobs = false;
  /// jobs status --json
  bool json = false;
  /// `--check <command>`: validate the command (and its job name) without
  /// running it or reading the environment. Runbook tests use it.
  bool check_only = false;
  bench_options bench;
};

/// Parses `clean-service <subcommand> [flags]`. Pure, so it is unit-tested.
invocation parse_command_line(const std::vector<std::string>& args);

/// The text printed by `--help` (stdout) and on usage errors (stderr).
std::string usage_text();

} // namespace clean::config
