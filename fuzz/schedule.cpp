// JOB_<NAME>_SCHEDULE values: intervals and five-field cron expressions.
#include "config/schedule.hpp"

#include <cstddef>
#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string error;
  auto s = clean::config::schedule::parse({reinterpret_cast<const char*>(data), size}, error);
  if (!s && error.empty())
    __builtin_trap(); // a refusal must say why
  return 0;
}
