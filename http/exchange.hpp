#pragma once

// The types a route handler sees: the parsed request, its captured path
// parameters, and a `responder` that completes it exactly once.

#include "http/router.hpp"

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <caf/fwd.hpp>

#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace clean::http {

namespace bhttp = boost::beast::http;
using request = bhttp::request<bhttp::string_body>;
using response = bhttp::response<bhttp::string_body>;

class gateway;

/// Where a response goes. Implemented by the connection; thread-safe, so a
/// handler may answer from any thread (it is hopped back to the connection's
/// event loop).
class response_sink {
public:
  virtual ~response_sink() = default;
  virtual void deliver(uint64_t request_seq, response res) = 0;
};

/// Completes one request. Cheap to move; answering twice is ignored.
class responder {
public:
  responder(std::shared_ptr<response_sink> sink, uint64_t seq) : sink_(std::move(sink)), seq_(seq) {}

  void operator()(response res) const { sink_->deliver(seq_, std::move(res)); }

  /// A responder that hands the response to `observe` first; `observe`
  /// gets the response and this responder, and must answer through it.
  /// Runs at most once, on the thread that answered.
  responder observed(std::function<void(response, const responder&)> observe) const;

private:
  std::shared_ptr<response_sink> sink_;
  uint64_t seq_;
};

/// What a handler knows about the request it serves. Valid until it answers.
struct request_context {
  const request& req;
  std::string_view path;  // without the query string
  std::string_view query; // without the leading '?'
  std::string_view route; // matched template, e.g. "/v1/bookings/{id}"
  const path_params& params;
  std::string_view request_id;
  /// Talks to actors from this connection's event-loop thread.
  gateway& actors;
  /// The peer's IP address (the TCP connection's, not a forwarded header).
  std::string_view client_address;
};

using handler = std::function<void(request_context&, responder)>;
using route_table = router<handler>;

/// A JSON response with `Content-Type: application/json`.
response json_response(bhttp::status status, std::string body);

/// The service-wide error shape: `{"error":{"code":...,"message":...}}`.
response error_response(bhttp::status status, std::string_view code, std::string_view message);

/// How an error from an actor reaches a client; the one place where errors
/// become statuses (see `map_error`).
struct error_mapping {
  bhttp::status status = bhttp::status::internal_server_error;
  std::string code;
  std::string message;
  /// For 422: the request field at fault.
  std::string field;
  /// Seconds for `Retry-After` (0 = no header).
  int retry_after = 0;
};

/// Shed requests, timeouts and an unreachable database are 503 with
/// Retry-After; business refusals are 404/409/422; unknown keys 401.
error_mapping map_error(const caf::error& err);

/// The JSON error response for a mapping; 422 carries a `fields` list.
response to_response(const error_mapping& m);

/// `to_response(map_error(err))`.
response actor_error_response(const caf::error& err);

/// A plain-text response (used by `?verbose` health output).
response text_response(bhttp::status status, std::string body);

} // namespace clean::http
