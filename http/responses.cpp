#include "http/exchange.hpp"

#include <atomic>

#include "actors/supervised.hpp"
#include "telemetry/logging.hpp"

#include <caf/error.hpp>
#include <caf/sec.hpp>

namespace clean::http {

namespace {

response with_body(bhttp::status status, std::string_view content_type, std::string body) {
  response res{status, 11};
  res.set(bhttp::field::content_type, content_type);
  res.body() = std::move(body);
  return res;
}

} // namespace

response json_response(bhttp::status status, std::string body) {
  return with_body(status, "application/json", std::move(body));
}

response text_response(bhttp::status status, std::string body) {
  return with_body(status, "text/plain; charset=utf-8", std::move(body));
}

response error_response(bhttp::status status, std::string_view code, std::string_view message) {
  std::string body = R"({"error":{"code":")";
  telemetry::append_json_escaped(body, code);
  body += R"(","message":")";
  telemetry::append_json_escaped(body, message);
  body += "\"}}";
  return json_response(status, std::move(body));
}

namespace {

error_mapping mapped(bhttp::status status, std::string code, std::string message, int retry_after = 0) {
  return {status, std::move(code), std::move(message), {}, retry_after};
}

/// The code and message an actor attached, or the given defaults.
error_mapping with_detail(const caf::error& err, bhttp::status status, const char* code, const char* message,
                          int retry_after = 0) {
  auto d = detail_of(err);
  return {status, d.code.empty() ? code : d.code, d.message.empty() ? message : d.message, d.field,
          retry_after};
}

} // namespace

namespace {

class observing_sink : public response_sink {
public:
  observing_sink(responder inner, std::function<void(response, const responder&)> observe) :
      inner_(std::move(inner)), observe_(std::move(observe)) {}

  void deliver(uint64_t, response res) override {
    if (answered_.exchange(true))
      return;
    observe_(std::move(res), inner_);
  }

private:
  responder inner_;
  std::function<void(response, const responder&)> observe_;
  std::atomic<bool> answered_{false};
};

} // namespace

responder responder::observed(std::function<void(response, const responder&)> observe) const {
  return responder{std::make_shared<observing_sink>(*this, std::move(observe)), 0};
}

error_mapping map_error(const caf::error& err) {
  using s = bhttp::status;
  if (is(err, errc::mailbox_full))
    return mapped(s::service_unavailable, "overloaded", "the service is overloaded; retry shortly", 1);
  if (is(err, errc::no_such_actor))
    return mapped(s::not_found, "not_found", "no supervised actor at that path");
  if (is(err, errc::pool_timeout))
    return with_detail(err, s::service_unavailable, "db_pool_timeout", "no database connection was free", 1);
  if (is(err, errc::database_unavailable))
    return with_detail(err, s::service_unavailable, "database_unavailable", "the database is unreachable", 2);
  if (is(err, errc::deadline_exceeded))
    return with_detail(err, s::service_unavailable, "deadline_exceeded", "the request took too long", 1);
  if (is(err, errc::database_error))
    return with_detail(err, s::internal_server_error, "database_error", "the database call failed");
  if (is(err, errc::not_found))
    return with_detail(err, s::not_found, "not_found", "not found");
  if (is(err, errc::conflict))
    return with_detail(err, s::conflict, "conflict", "the change conflicts with the current state");
  if (is(err, errc::invalid))
    return with_detail(err, s::unprocessable_entity, "validation_failed", "the request is invalid");
  if (is(err, errc::unauthenticated))
    return with_detail(err, s::unauthorized, "invalid_api_key", "the credentials are not valid");
  if (is(err, errc::forbidden))
    return with_detail(err, s::forbidden, "forbidden", "not allowed");
  if (err == caf::sec::request_timeout)
    return mapped(s::service_unavailable, "timeout", "an internal component did not answer in time", 1);
  if (err == caf::sec::request_receiver_down)
    return mapped(s::service_unavailable, "unavailable", "an internal component is restarting", 1);
  if (err == caf::sec::invalid_argument)
    return mapped(s::conflict, "conflict", caf::to_string(err));
  return mapped(s::internal_server_error, "internal_error", "internal error");
}

response to_response(const error_mapping& m) {
  std::string body = R"({"error":{"code":")";
  telemetry::append_json_escaped(body, m.code);
  body += R"(","message":")";
  telemetry::append_json_escaped(body, m.message);
  body += '"';
  if (m.status == bhttp::status::unprocessable_entity) {
    body += R"(,"fields":[)";
    if (!m.field.empty()) {
      body += R"({"field":")";
      telemetry::append_json_escaped(body, m.field);
      body += R"(","message":")";
      telemetry::append_json_escaped(body, m.message);
      body += "\"}";
    }
    body += ']';
  }
  body += "}}";
  auto res = json_response(m.status, std::move(body));
  if (m.retry_after > 0)
    res.set(bhttp::field::retry_after, std::to_string(m.retry_after));
  if (m.status == bhttp::status::unauthorized)
    res.set(bhttp::field::www_authenticate, R"(Bearer realm="clean-service", error="invalid_token")");
  return res;
}

response actor_error_response(const caf::error& err) {
  return to_response(map_error(err));
}

} // namespace clean::http
