#include "delivery/webhooks.hpp"

#include "persistence/digest.hpp"

#include "delivery/curl.hpp"

#include <algorithm>

namespace clean::delivery {

std::string webhook_signature(const std::string& secret, int64_t unix_time, const std::string& body) {
  auto t = std::to_string(unix_time);
  return "t=" + t + ",v1=" + persistence::hmac_sha256_hex(secret, t + "." + body);
}

struct webhook_client::impl {
  std::string url;
  std::string secret; // never logged
  std::chrono::milliseconds timeout;
  curl::handle curl;
};

webhook_client::webhook_client(std::string url, std::string secret, std::chrono::milliseconds timeout) :
    impl_(std::make_unique<impl>()) {
  impl_->url = std::move(url);
  impl_->secret = std::move(secret);
  impl_->timeout = timeout;
}

webhook_client::~webhook_client() = default;

send_outcome webhook_client::post(const std::string& event_id, const std::string& body) {
  CURL* c = impl_->curl.get();
  if (!c)
    return {send_status::failed, "libcurl could not create a handle", 0};
  auto now =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  auto signature = "Clean-Signature: " + webhook_signature(impl_->secret, now, body);
  auto id = "Clean-Event-Id: " + event_id;
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  headers = curl_slist_append(headers, signature.c_str());
  headers = curl_slist_append(headers, id.c_str());
  headers = curl_slist_append(headers, "User-Agent: clean-service-webhooks/1");
  char error[CURL_ERROR_SIZE] = {};
  curl::body answer{{}, 1000};
  curl_easy_setopt(c, CURLOPT_URL, impl_->url.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl::collect_into(c, answer);
  curl::set_limits(c, std::min(impl_->timeout, std::chrono::milliseconds{10000}), impl_->timeout, error);
  auto [rc, code] = curl::perform(c, headers);
  if (rc == CURLE_OPERATION_TIMEDOUT)
    return {send_status::timeout, curl::describe(rc, error, 0), code};
  if (rc != CURLE_OK)
    return {send_status::failed, curl::describe(rc, error, 0), code};
  if (code >= 200 && code < 300)
    return {send_status::sent, "accepted", code};
  auto detail = "the receiver answered " + std::to_string(code) + ": " + answer.text;
  if (code == 408 || code == 429 || code >= 500)
    return {send_status::failed, detail, code};
  return {send_status::rejected, detail, code};
}

} // namespace clean::delivery
