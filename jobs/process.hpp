#pragma once

// Runs an external program (pg_dump, pg_restore) from a job's own thread:
// no shell, explicit environment, output to files, a deadline after which
// it is killed, and always reaped.

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace clean::jobs {

struct process_result {
  int exit_code = -1; // -1: did not exit normally
  bool timed_out = false;
  std::string error; // could not start, or the last lines of stderr
};

process_result run_process(const std::vector<std::string>& argv, const std::vector<std::string>& extra_env,
                           const std::string& stdout_path, std::chrono::seconds timeout,
                           const std::function<void()>& heartbeat);

} // namespace clean::jobs
