#pragma once

#include <string>
#include <vector>

namespace clean::config {

enum class command { serve, migrate, migrate_status, help, version, usage_error };

/// What the command line asked for; `error` explains a usage_error.
struct invocation {
  command cmd = command::help;
  std::string error;
};

/// Parses `clean-service <subcommand> [flags]`. Pure, so it is unit-tested.
invocation parse_command_line(const std::vector<std::string>& args);

/// The text printed by `--help` (stdout) and on usage errors (stderr).
std::string usage_text();

} // namespace clean::config
