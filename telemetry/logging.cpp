#include "telemetry/logging.hpp"

#include "config/settings.hpp"

#include <spdlog/async.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <ctime>

namespace clean::telemetry {

namespace {

std::atomic<bool> json_mode{false};

// RFC 3339 UTC with milliseconds. The date-time part is formatted once per
// second per thread: with access logs on, this runs for every request.
std::string timestamp() {
  thread_local std::time_t cached_second = -1;
  thread_local std::string cached_prefix;
  auto now = std::chrono::system_clock::now();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()) % 1000;
  auto second = std::chrono::system_clock::to_time_t(now);
  if (second != cached_second) {
    cached_second = second;
    cached_prefix = fmt::format("{:%Y-%m-%dT%H:%M:%S}", fmt::gmtime(second));
  }
  return fmt::format("{}.{:03d}Z", cached_prefix, static_cast<int>(ms.count()));
}

// Durations and latencies: microsecond resolution is plenty for a log line,
// and JSON has no NaN or infinity.
void append_double(std::string& out, double v) {
  if (!std::isfinite(v)) {
    out += "null";
    return;
  }
  fmt::format_to(std::back_inserter(out), "{:.3f}", v);
}

void append_quoted(std::string& out, std::string_view v) {
  out += '"';
  append_json_escaped(out, v);
  out += '"';
}

/// Writes a field's value; `quote_always` is JSON's rule, text mode quotes a
/// string only when it would otherwise be ambiguous.
void append_value(std::string& out, const field& f, bool quote_always) {
  std::visit(
      [&](auto&& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::string_view>) {
          if (quote_always || v.empty() || v.find_first_of(" \"=") != std::string_view::npos)
            append_quoted(out, v);
          else
            out += v;
        } else if constexpr (std::is_same_v<T, bool>) {
          out += v ? "true" : "false";
        } else if constexpr (std::is_same_v<T, double>) {
          append_double(out, v);
        } else {
          fmt::format_to(std::back_inserter(out), "{}", v);
        }
      },
      f.value);
}

std::string render_json(spdlog::level::level_enum level, std::string_view event, std::string_view message,
                        std::initializer_list<field> fields) {
  std::string out;
  out.reserve(256);
  out += R"({"time":")";
  out += timestamp();
  out += R"(","level":")";
  auto lv = spdlog::level::to_string_view(level);
  out.append(lv.data(), lv.size());
  out += R"(","event":")";
  append_json_escaped(out, event);
  out += R"(","message":")";
  append_json_escaped(out, message);
  out += '"';
  for (auto& f : fields) {
    out += ",\"";
    append_json_escaped(out, f.key);
    out += "\":";
    append_value(out, f, true);
  }
  out += '}';
  return out;
}

std::string render_text(spdlog::level::level_enum level, std::string_view event, std::string_view message,
                        std::initializer_list<field> fields) {
  std::string out;
  out.reserve(200);
  out += timestamp();
  out += ' ';
  auto lv = spdlog::level::to_string_view(level);
  out.append(lv.data(), lv.size());
  out += ' ';
  out += message;
  out += " event=";
  out += event;
  for (auto& f : fields) {
    out += ' ';
    out += f.key;
    out += '=';
    append_value(out, f, false);
  }
  return out;
}

} // namespace

void append_json_escaped(std::string& out, std::string_view text) {
  for (unsigned char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20)
          fmt::format_to(std::back_inserter(out), "\\u{:04x}", c);
        else
          out += static_cast<char>(c);
    }
  }
}

void init_bootstrap_logging() {
  auto logger = spdlog::stderr_logger_mt("bootstrap");
  logger->set_pattern("%v");
  spdlog::set_default_logger(logger);
}

void init_logging(const config::settings& s) {
  json_mode = s.log_fmt == config::log_format::json;
  // Logging happens on the HTTP event loop: a bounded queue and one writer
  // thread keep a slow stderr from stalling requests.
  spdlog::init_thread_pool(16384, 1);
  auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  auto logger = std::make_shared<spdlog::async_logger>("clean-service", sink, spdlog::thread_pool(),
                                                       spdlog::async_overflow_policy::block);
  logger->set_pattern("%v");
  logger->set_level(spdlog::level::from_str(s.log_level));
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(logger);
}

void shutdown_logging() {
  if (auto l = spdlog::default_logger())
    l->flush();
  spdlog::shutdown();
}

bool enabled(spdlog::level::level_enum level) {
  return spdlog::default_logger_raw()->should_log(level);
}

std::string format_line(spdlog::level::level_enum level, std::string_view event, std::string_view message,
                        std::initializer_list<field> fields) {
  return json_mode ? render_json(level, event, message, fields) : render_text(level, event, message, fields);
}

namespace {
thread_local line_batch* this_thread_batch = nullptr;
}

void batch_lines_on_this_thread(line_batch* batch) {
  this_thread_batch = batch;
}

void log(spdlog::level::level_enum level, std::string_view event, std::string_view message,
         std::initializer_list<field> fields) {
  auto* logger = spdlog::default_logger_raw();
  if (!logger->should_log(level))
    return;
  auto line = format_line(level, event, message, fields);
  if (auto* batch = this_thread_batch) {
    if (level < spdlog::level::err)
      return batch->add(level, std::move(line));
    batch->flush(); // the lines before this one come first
  }
  logger->log(level, "{}", line);
}

void write_lines(spdlog::level::level_enum level, std::string_view lines) {
  if (!lines.empty())
    spdlog::default_logger_raw()->log(level, "{}", lines);
}

} // namespace clean::telemetry
