#pragma once

namespace clean::config {
struct settings;
}

namespace clean::supervision {

/// `clean-service serve`: runs until SIGTERM/SIGINT, then shuts down in the
/// order a load balancer needs (unready, drain delay, stop accepting, finish
/// in-flight requests, stop actors). Returns the process exit code.
int serve(const config::settings& settings, const char* version);

/// `clean-service migrate [--status]`. Returns the process exit code.
int migrate(const config::settings& settings, bool status_only);

} // namespace clean::supervision
