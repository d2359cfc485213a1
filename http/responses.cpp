#include "http/exchange.hpp"

#include "telemetry/logging.hpp"

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

} // namespace clean::http
