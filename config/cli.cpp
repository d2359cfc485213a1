#include "config/cli.hpp"

#include "config/settings.hpp"

#include <fmt/format.h>

namespace clean::config {

invocation parse_command_line(const std::vector<std::string>& args) {
  if (args.empty())
    return {command::usage_error, "missing subcommand"};
  const auto& first = args[0];
  auto only = [&](command c) -> invocation {
    if (args.size() > 1)
      return {command::usage_error, "unexpected argument '" + args[1] + "'"};
    return {c, {}};
  };
  if (first == "--help" || first == "-h" || first == "help")
    return only(command::help);
  if (first == "--version" || first == "-V" || first == "version")
    return only(command::version);
  if (first == "serve")
    return only(command::serve);
  if (first == "migrate") {
    if (args.size() == 1)
      return {command::migrate, {}};
    if (args.size() == 2 && args[1] == "--status")
      return {command::migrate_status, {}};
    return {command::usage_error, "unknown argument to migrate: '" + args[1] + "'"};
  }
  if (first.starts_with("-"))
    return {command::usage_error, "unknown flag '" + first + "'"};
  return {command::usage_error, "unknown subcommand '" + first + "'"};
}

std::string usage_text() {
  std::string out = R"(Usage: clean-service <command>

Commands:
  serve              run the HTTP service (SIGTERM/SIGINT stop it gracefully)
  migrate            apply pending database migrations, then exit
  migrate --status   print applied and pending migrations; exit 1 if not at head
  --help             show this text
  --version          print the version

Configuration comes from the environment:
)";
  for (auto& v : documented_variables())
    out += fmt::format("  {:<30} {} [default: {}]\n", v.name, v.meaning, v.default_value);
  return out;
}

} // namespace clean::config
