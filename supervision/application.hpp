#pragma once

namespace clean::config {
struct settings;
struct invocation;
} // namespace clean::config

namespace clean::supervision {

/// Blocks SIGTERM and SIGINT in the calling thread and every thread created
/// after it; `serve` takes them with sigwait. Call first thing in main,
/// before any library starts a thread (the logger does).
void block_shutdown_signals();

/// `clean-service serve`: runs until SIGTERM/SIGINT, then shuts down in the
/// order a load balancer needs (unready, drain delay, stop accepting, finish
/// in-flight requests, stop actors). Returns the process exit code.
int serve(const config::settings& settings, const char* version);

/// `clean-service migrate [--status]`. Returns the process exit code.
int migrate(const config::settings& settings, bool status_only);

/// `clean-service api-keys create|list|revoke`. Returns the exit code.
int manage_api_keys(const config::settings& settings, const config::invocation& call);

} // namespace clean::supervision
