#include "telemetry/process_stats.hpp"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

namespace clean::telemetry {

namespace {

double boot_time_seconds() {
  std::ifstream in{"/proc/stat"};
  std::string key;
  double value = 0;
  while (in >> key) {
    if (key == "btime") {
      in >> value;
      return value;
    }
    in.ignore(1 << 20, '\n');
  }
  return 0;
}

double count_open_fds() {
  double n = 0;
  if (DIR* d = opendir("/proc/self/fd")) {
    while (auto* e = readdir(d))
      if (e->d_name[0] != '.')
        ++n;
    closedir(d);
    --n; // the descriptor opendir itself holds
  }
  return n;
}

/// A cgroup limit file holds a byte count, or "max" (v2) / a huge number
/// (v1) when unlimited; both of those read as 0 here.
double cgroup_limit(const char* file) {
  std::ifstream in{file};
  std::string value;
  if (!(in >> value) || value == "max")
    return 0;
  try {
    auto bytes = std::stod(value);
    return bytes >= 0x7000000000000000 ? 0 : bytes;
  } catch (const std::exception&) {
    return 0;
  }
}

double machine_memory_bytes() {
  std::ifstream in{"/proc/meminfo"};
  std::string key;
  double kib = 0;
  while (in >> key) {
    if (key == "MemTotal:") {
      in >> kib;
      return kib * 1024;
    }
    in.ignore(1 << 20, '\n');
  }
  return 0;
}

double memory_limit_bytes() {
  for (const char* file : {"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"})
    if (auto limit = cgroup_limit(file); limit > 0)
      return limit;
  return machine_memory_bytes();
}

} // namespace

process_stats read_process_stats() {
  process_stats out;
  std::ifstream in{"/proc/self/stat"};
  std::string line;
  std::getline(in, line);
  // The command name (field 2) may contain spaces: parse after its closing ')'.
  auto close = line.rfind(')');
  if (close != std::string::npos) {
    std::istringstream fields{line.substr(close + 2)};
    std::vector<std::string> f{std::istream_iterator<std::string>{fields}, {}};
    // f[0] is field 3 (state); field N is f[N - 3].
    if (f.size() > 21) {
      static const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
      static const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
      static const double boot = boot_time_seconds();
      out.cpu_seconds = (std::stod(f[11]) + std::stod(f[12])) / ticks;
      out.threads = std::stod(f[17]);
      out.start_time_seconds = boot + std::stod(f[19]) / ticks;
      out.virtual_memory_bytes = std::stod(f[20]);
      out.resident_memory_bytes = std::stod(f[21]) * page;
    }
  }
  out.open_fds = count_open_fds();
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0)
    out.max_fds = lim.rlim_cur == RLIM_INFINITY ? 0 : static_cast<double>(lim.rlim_cur);
  // The limit cannot change under a running process often enough to matter;
  // reading it once keeps scrapes cheap.
  static const double limit = memory_limit_bytes();
  out.memory_limit_bytes = limit;
  return out;
}

} // namespace clean::telemetry
