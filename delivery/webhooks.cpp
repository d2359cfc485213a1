#include "delivery/webhooks.hpp"

#include "persistence/digest.hpp"

#include <curl/curl.h>

#include <algorithm>

namespace clean::delivery {

std::string webhook_signature(const std::string& secret, int64_t unix_time, const std::string& body) {
  auto t = std::to_string(unix_time);
  return "t=" + t + ",v1=" + persistence::hmac_sha256_hex(secret, t + "." + body);
}

namespace {

size_t collect(char* data, size_t size, size_t count, void* user) {
  auto* out = static_cast<std::string*>(user);
  auto n = size * count;
  if (out->size() < 1000)
    out->append(data, std::min(n, 1000 - out->size()));
  return n;
}

} // namespace

struct webhook_client::impl {
  std::string url;
  std::string secret; // never logged
  std::chrono::milliseconds timeout;
  CURL* curl = nullptr;
};

webhook_client::webhook_client(std::string url, std::string secret, std::chrono::milliseconds timeout) :
    impl_(std::make_unique<impl>()) {
  curl_global_init(CURL_GLOBAL_DEFAULT); // reference-counted; safe to repeat
  impl_->url = std::move(url);
  impl_->secret = std::move(secret);
  impl_->timeout = timeout;
  impl_->curl = curl_easy_init();
}

webhook_client::~webhook_client() {
  if (impl_->curl)
    curl_easy_cleanup(impl_->curl);
}

send_outcome webhook_client::post(const std::string& event_id, const std::string& body) {
  CURL* c = impl_->curl;
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
  std::string answer;
  curl_easy_setopt(c, CURLOPT_URL, impl_->url.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &answer);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(std::min<int64_t>(impl_->timeout.count(), 10000)));
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(impl_->timeout.count()));
  auto rc = curl_easy_perform(c);
  long code = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, nullptr);
  curl_slist_free_all(headers);
  auto what = [&] {
    return std::string{*error ? error : curl_easy_strerror(rc)};
  };
  if (rc == CURLE_OPERATION_TIMEDOUT)
    return {send_status::timeout, what(), code};
  if (rc != CURLE_OK)
    return {send_status::failed, what(), code};
  if (code >= 200 && code < 300)
    return {send_status::sent, "accepted", code};
  auto detail = "the receiver answered " + std::to_string(code) + ": " + answer;
  if (code == 408 || code == 429 || code >= 500)
    return {send_status::failed, detail, code};
  return {send_status::rejected, detail, code};
}

} // namespace clean::delivery
