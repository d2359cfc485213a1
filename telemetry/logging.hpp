#pragma once

#include <spdlog/common.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <variant>

namespace clean::config {
struct settings;
}

namespace clean::telemetry {

/// One structured field of a log line.
struct field {
  std::string_view key;
  std::variant<std::string_view, int64_t, double, bool> value;

  field(std::string_view k, std::string_view v) : key(k), value(v) {}
  field(std::string_view k, const std::string& v) : key(k), value(std::string_view{v}) {}
  field(std::string_view k, const char* v) : key(k), value(std::string_view{v}) {}
  field(std::string_view k, int64_t v) : key(k), value(v) {}
  field(std::string_view k, int v) : key(k), value(int64_t{v}) {}
  field(std::string_view k, unsigned v) : key(k), value(int64_t{v}) {}
  field(std::string_view k, size_t v) : key(k), value(static_cast<int64_t>(v)) {}
  field(std::string_view k, double v) : key(k), value(v) {}
  field(std::string_view k, bool v) : key(k), value(v) {}
};

/// Installs the process logger (asynchronous, stderr) in the configured format.
void init_logging(const config::settings& s);

/// Installs a synchronous stderr logger before settings are known (CLI errors).
void init_bootstrap_logging();

/// Flushes and stops the logger; called last in `main`.
void shutdown_logging();

/// Logs `message` with a machine-readable `event` name and extra fields: one
/// JSON object per line in json mode, `message key=value ...` in text mode.
void log(spdlog::level::level_enum level, std::string_view event, std::string_view message,
         std::initializer_list<field> fields = {});

/// Formats a line exactly as `log` would, without writing it (for batching).
std::string format_line(spdlog::level::level_enum level, std::string_view event, std::string_view message,
                        std::initializer_list<field> fields = {});

/// Writes already formatted lines, joined by '\n', as one logger message:
/// one queue hand-off for many lines. `level` should be the highest level
/// among them (it decides filtering and flushing).
void write_lines(spdlog::level::level_enum level, std::string_view lines);

/// Collects the log lines of a thread that runs an event loop, to hand them
/// to the logger once per pass (see http::server): each hand-off to the
/// async logger takes its queue's mutex and may wake its thread.
class line_batch {
public:
  virtual ~line_batch() = default;
  /// Keeps a formatted line for the next write.
  virtual void add(spdlog::level::level_enum level, std::string line) = 0;
  /// Writes what was kept, now.
  virtual void flush() = 0;
};

/// While installed on a thread, `log` of lines below `err` on that thread
/// goes to `batch`; an `err` or worse line first flushes it, so lines keep
/// their order and errors are never held back. nullptr uninstalls.
void batch_lines_on_this_thread(line_batch* batch);

/// Whether a line at `level` would be written (skip building expensive fields).
bool enabled(spdlog::level::level_enum level);

/// Appends `text` to `out` as the inside of a JSON string literal.
void append_json_escaped(std::string& out, std::string_view text);

} // namespace clean::telemetry
