// clean-service entry point: parses the command line and the environment,
// sets up logging, and hands over to the chosen command. Wiring only.

#include "config/cli.hpp"
#include "config/settings.hpp"
#include "supervision/application.hpp"
#include "telemetry/logging.hpp"

#include <cstdio>
#include <iostream>

#ifndef CLEAN_SERVICE_VERSION
#define CLEAN_SERVICE_VERSION "0.0.0-dev"
#endif

int main(int argc, char** argv) {
  using namespace clean;
  std::vector<std::string> args(argv + 1, argv + argc);
  auto call = config::parse_command_line(args);
  switch (call.cmd) {
    case config::command::usage_error:
      std::cerr << "clean-service: " << call.error << "\n\n" << config::usage_text();
      return 2;
    case config::command::help:
      std::cout << config::usage_text();
      return 0;
    case config::command::version:
      std::cout << "clean-service " << CLEAN_SERVICE_VERSION << "\n";
      return 0;
    default:
      break;
  }
  if (call.check_only)
    return supervision::check_command(call);

  auto parsed = config::parse_settings(config::process_environment());
  if (!parsed.value) {
    for (auto& e : parsed.errors)
      std::cerr << "clean-service: configuration error: " << e << "\n";
    return 2;
  }
  const auto& settings = *parsed.value;
  // Before the logger starts its thread: every thread must inherit the mask
  // so shutdown signals reach only the main thread's sigwait.
  supervision::block_shutdown_signals();
  telemetry::init_logging(settings);
  int code = 1;
  switch (call.cmd) {
    case config::command::serve:
      code = supervision::serve(settings, CLEAN_SERVICE_VERSION,
                                call.no_jobs ? supervision::serve_mode::http_only
                                             : supervision::serve_mode::all);
      break;
    case config::command::jobs_runner:
      code = supervision::serve(settings, CLEAN_SERVICE_VERSION, supervision::serve_mode::jobs_only);
      break;
    case config::command::jobs_run:
    case config::command::jobs_list:
    case config::command::jobs_status:
      code = supervision::run_jobs_command(settings, call);
      break;
    case config::command::bench_mailbox:
      code = supervision::bench_mailbox(settings, call.bench);
      break;
    case config::command::migrate:
    case config::command::migrate_status:
      code = supervision::migrate(settings, call.cmd == config::command::migrate_status);
      break;
    default:
      code = supervision::manage_api_keys(settings, call);
      break;
  }
  telemetry::shutdown_logging();
  return code;
}
