#include "config/cli.hpp"

#include "config/settings.hpp"

#include <fmt/format.h>

namespace clean::config {

namespace {

invocation parse_api_keys(const std::vector<std::string>& args) {
  if (args.size() < 2)
    return {command::usage_error, "api-keys needs a subcommand: create, list or revoke"};
  const auto& sub = args[1];
  if (sub == "list") {
    if (args.size() > 2)
      return {command::usage_error, "unexpected argument '" + args[2] + "'"};
    return {command::api_keys_list, {}};
  }
  if (sub == "create") {
    invocation inv{command::api_keys_create, {}};
    for (size_t i = 2; i < args.size(); ++i) {
      if (args[i] == "--name" && i + 1 < args.size())
        inv.name = args[++i];
      else if (args[i].starts_with("--name="))
        inv.name = args[i].substr(7);
      else
        return {command::usage_error, "unexpected argument '" + args[i] + "'"};
    }
    if (inv.name.empty() || inv.name.size() > 100)
      return {command::usage_error, "api-keys create needs --name NAME (1-100 characters)"};
    return inv;
  }
  if (sub == "revoke") {
    if (args.size() != 3)
      return {command::usage_error, "api-keys revoke needs exactly one key id (see api-keys list)"};
    try {
      size_t used = 0;
      auto id = std::stoll(args[2], &used);
      if (used != args[2].size() || id <= 0)
        throw std::invalid_argument("id");
      invocation inv{command::api_keys_revoke, {}};
      inv.id = id;
      return inv;
    } catch (const std::exception&) {
      return {command::usage_error, "api-keys revoke: '" + args[2] + "' is not a key id"};
    }
  }
  return {command::usage_error, "unknown api-keys subcommand '" + sub + "'"};
}

invocation parse_jobs(const std::vector<std::string>& args) {
  if (args.size() < 2)
    return {command::usage_error, "jobs needs a subcommand: run, list or status"};
  const auto& sub = args[1];
  if (sub == "list") {
    if (args.size() > 2)
      return {command::usage_error, "unexpected argument '" + args[2] + "'"};
    return {command::jobs_list, {}};
  }
  if (sub == "status") {
    invocation inv{command::jobs_status, {}};
    for (size_t i = 2; i < args.size(); ++i) {
      if (args[i] == "--json")
        inv.json = true;
      else
        return {command::usage_error, "unexpected argument '" + args[i] + "'"};
    }
    return inv;
  }
  if (sub == "run") {
    invocation inv{command::jobs_run, {}};
    bool once = false;
    for (size_t i = 2; i < args.size(); ++i) {
      if (args[i] == "--job" && i + 1 < args.size())
        inv.name = args[++i];
      else if (args[i].starts_with("--job="))
        inv.name = args[i].substr(6);
      else if (args[i] == "--once")
        once = true;
      else
        return {command::usage_error, "unexpected argument '" + args[i] + "'"};
    }
    if (inv.name.empty())
      return {command::usage_error, "jobs run needs --job NAME (see jobs list)"};
    if (!once)
      return {command::usage_error,
              "jobs run runs one iteration: add --once (the schedule runs under serve)"};
    return inv;
  }
  return {command::usage_error, "unknown jobs subcommand '" + sub + "'"};
}

bool parse_count(const std::string& text, uint64_t min, uint64_t max, uint64_t& out) {
  try {
    size_t used = 0;
    auto v = std::stoull(text, &used);
    if (used != text.size() || v < min || v > max || text.starts_with("-"))
      return false;
    out = v;
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

invocation parse_bench(const std::vector<std::string>& args) {
  if (args.size() < 2 || args[1] != "mailbox")
    return {command::usage_error, "bench needs a subcommand: mailbox"};
  invocation inv{command::bench_mailbox, {}};
  auto& b = inv.bench;
  for (size_t i = 2; i < args.size(); ++i) {
    const auto& flag = args[i];
    if (i + 1 >= args.size())
      return {command::usage_error, "bench mailbox: " + flag + " needs a value"};
    const auto& value = args[++i];
    uint64_t n = 0;
    if (flag == "--mode" && (value == "fanin" || value == "call"))
      b.mode = value;
    else if (flag == "--target" && (value == "supervised" || value == "bare"))
      b.target = value;
    else if (flag == "--address" && (value == "none" || value == "self"))
      b.address = value;
    else if (flag == "--element" && (value == "pooled" || value == "caf"))
      b.element = value;
    else if (flag == "--senders" && parse_count(value, 1, 64, n))
      b.senders = static_cast<int>(n);
    else if (flag == "--messages" && parse_count(value, 1, 1'000'000'000, n))
      b.messages = n;
    else
      return {command::usage_error,
              "bench mailbox: bad " + flag + " '" + value +
                  "' (--mode fanin|call, --target supervised|bare, --senders 1-64, "
                  "--messages 1-1000000000, --address none|self, --element pooled|caf)"};
  }
  return inv;
}

} // namespace

invocation parse_command_line(const std::vector<std::string>& args) {
  if (args.empty())
    return {command::usage_error, "missing subcommand"};
  const auto& first = args[0];
  auto only = [&](command c) -> invocation {
    if (args.size() > 1)
      return {command::usage_error, "unexpected argument '" + args[1] + "'"};
    return {c, {}};
  };
  if (first == "--check") {
    auto inv = parse_command_line({args.begin() + 1, args.end()});
    if (inv.cmd == command::usage_error || inv.cmd == command::help || inv.cmd == command::version)
      return inv.cmd == command::usage_error ? inv
                                             : invocation{command::usage_error, "--check needs a command"};
    inv.check_only = true;
    return inv;
  }
  if (first == "--help" || first == "-h" || first == "help")
    return only(command::help);
  if (first == "--version" || first == "-V" || first == "version")
    return only(command::version);
  if (first == "serve") {
    if (args.size() == 2 && args[1] == "--no-jobs") {
      invocation inv{command::serve, {}};
      inv.no_jobs = true;
      return inv;
    }
    return only(command::serve);
  }
  if (first == "jobs-runner")
    return only(command::jobs_runner);
  if (first == "jobs")
    return parse_jobs(args);
  if (first == "migrate") {
    if (args.size() == 1)
      return {command::migrate, {}};
    if (args.size() == 2 && args[1] == "--status")
      return {command::migrate_status, {}};
    return {command::usage_error, "unknown argument to migrate: '" + args[1] + "'"};
  }
  if (first == "api-keys")
    return parse_api_keys(args);
  if (first == "bench")
    return parse_bench(args);
  if (first.starts_with("-"))
    return {command::usage_error, "unknown flag '" + first + "'"};
  return {command::usage_error, "unknown subcommand '" + first + "'"};
}

std::string usage_text() {
  std::string out = R"(Usage: clean-service <command>

Commands:
  serve              run the HTTP service and the jobs runner (SIGTERM/SIGINT stop it gracefully)
  serve --no-jobs    run the HTTP service only (jobs run in a separate jobs-runner process)
  jobs-runner        run the jobs only, with /healthz, /readyz and /metrics on HOST:PORT
  jobs run --job NAME --once
                     run one iteration of a job now, print a summary; exit 0, 1 on failure,
                     2 for an unknown job
  jobs list          list the jobs with their schedules
  jobs status [--json]
                     per-job state from the database (last success, failures, last error, ...)
  migrate            apply pending database migrations, then exit
  migrate --status   print applied and pending migrations; exit 1 if not at head
  api-keys create --name NAME
                     create an API key and print it (once: only its hash is stored)
  api-keys list      list API keys (id, name, prefix, created, last used, revoked)
  api-keys revoke ID revoke a key (cached verifications expire within API_KEY_CACHE_SECONDS)
  bench mailbox [--mode fanin|call] [--target supervised|bare] [--senders N] [--messages N]
                [--address none|self] [--element pooled|caf]
                     stress the actor system: N senders -> one actor (fanin, default 2 senders,
                     10M messages) or request/response round trips (call); prints msgs/s and
                     the mailbox high-water mark. Fan-in messages carry no sender address
                     (none, like Erlang's `!`) unless --address self; their mailbox elements
                     come from a block pool unless --element caf (CAF's new/delete)
  --check COMMAND... say whether COMMAND (and its job name) would be accepted, without
                     running it or reading the environment; exit 0 if so, 2 if not
  --help             show this text
  --version          print the version

Configuration comes from the environment:
)";
  for (auto& v : documented_variables())
    out += fmt::format("  {:<30} {} [default: {}]\n", v.name, v.meaning, v.default_value);
  return out;
}

} // namespace clean::config
