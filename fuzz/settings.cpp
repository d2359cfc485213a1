// The whole environment parser: "NAME=value" lines become the environment.
#include "config/settings.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in{reinterpret_cast<const char*>(data), size};
  clean::config::environment env;
  while (!in.empty()) {
    auto end = in.find('\n');
    auto line = in.substr(0, end);
    auto eq = line.find('=');
    if (eq != std::string_view::npos)
      env[std::string{line.substr(0, eq)}] = std::string{line.substr(eq + 1)};
    in = end == std::string_view::npos ? std::string_view{} : in.substr(end + 1);
  }
  auto r = clean::config::parse_settings(env);
  if (!r.value && r.errors.empty())
    __builtin_trap(); // a refusal must name what is wrong
  return 0;
}
