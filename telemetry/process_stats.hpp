#pragma once

namespace clean::telemetry {

/// Figures about this process, read from /proc (Linux).
struct process_stats {
  double cpu_seconds = 0;
  double start_time_seconds = 0;
  double resident_memory_bytes = 0;
  double virtual_memory_bytes = 0;
  double open_fds = 0;
  double max_fds = 0;
  double threads = 0;
  /// The memory this process may use: its cgroup limit (v2 or v1), or the
  /// machine's memory when the cgroup sets none. HighMemory divides by it.
  double memory_limit_bytes = 0;
};

process_stats read_process_stats();

} // namespace clean::telemetry
