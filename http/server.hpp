#pragma once

#include "http/exchange.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace caf {
class actor_system;
}

namespace clean::telemetry {
struct http_metrics;
}

namespace clean::http {

struct server_config {
  std::string host = "127.0.0.1";
  uint16_t port = 8080; // 0 = any free port (tests)
  size_t max_body_bytes = 1024 * 1024;
  size_t max_header_bytes = 16 * 1024;
  /// Whole-request deadline once its first byte arrived (slowloris guard);
  /// also bounds writing a response.
  std::chrono::seconds read_timeout{10};
  /// How long a keep-alive connection may sit without a new request.
  std::chrono::seconds idle_timeout{60};
  size_t max_connections = 10000;
  int io_threads = 1;
  bool access_log = true;
};

/// The HTTP/1.1 server: one asio event loop per I/O thread, connections as
/// plain asio objects, a `gateway` per loop for talking to actors.
///
/// Lifecycle: listen() -> start() -> stop_accepting() -> drain(deadline) ->
/// stop(). Every step is idempotent; the destructor stops what is running.
class server {
public:
  server(server_config config, const route_table& routes, const telemetry::http_metrics& metrics,
         caf::actor_system& system);
  ~server();

  server(const server&) = delete;
  server& operator=(const server&) = delete;

  /// Binds and listens; returns the bound port. Throws std::runtime_error
  /// naming the address on failure.
  uint16_t listen();

  /// Starts the I/O threads (returns immediately).
  void start();

  /// Closes the listener. Responses written from now on carry
  /// `Connection: close`, and idle keep-alive connections are closed.
  void stop_accepting();

  /// Waits until every connection finished its in-flight request and closed,
  /// or the deadline passed. Returns whether all connections closed in time.
  bool drain(std::chrono::milliseconds deadline);

  /// Closes whatever is left and joins the I/O threads.
  void stop();

  size_t open_connections() const;

  struct impl;

private:
  std::unique_ptr<impl> impl_;
};

} // namespace clean::http
