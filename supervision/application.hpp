#pragma once

namespace clean::config {
struct settings;
struct invocation;
struct bench_options;
} // namespace clean::config

namespace clean::supervision {

/// Blocks SIGTERM and SIGINT in the calling thread and every thread created
/// after it; `serve` takes them with sigwait. Call first thing in main,
/// before any library starts a thread (the logger does).
void block_shutdown_signals();

/// `clean-service serve`: runs until SIGTERM/SIGINT, then shuts down in the
/// order a load balancer needs (unready, drain delay, stop accepting, finish
/// in-flight requests, stop actors). Returns the process exit code.
/// What a `serve` process runs: everything, HTTP only (`serve --no-jobs`),
/// or the jobs only with the operational endpoints (`jobs-runner`).
enum class serve_mode { all, http_only, jobs_only };

int serve(const config::settings& settings, const char* version, serve_mode mode = serve_mode::all);

/// `clean-service migrate [--status]`. Returns the process exit code.
int migrate(const config::settings& settings, bool status_only);

/// `clean-service jobs run --job NAME --once | list | status`. Returns the exit code.
int run_jobs_command(const config::settings& settings, const config::invocation& call);

/// `clean-service bench mailbox ...`: prints one line of results; exit 0.
int bench_mailbox(const config::settings& settings, const config::bench_options& options);

/// `clean-service --check ...`: 0 when the parsed command would run (a job
/// name must exist), 2 with the reason on stderr otherwise.
int check_command(const config::invocation& call);

/// `clean-service api-keys create|list|revoke`. Returns the exit code.
int manage_api_keys(const config::settings& settings, const config::invocation& call);

} // namespace clean::supervision
