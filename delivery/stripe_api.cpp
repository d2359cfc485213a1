#include "delivery/stripe_api.hpp"

#include "delivery/curl.hpp"

namespace clean::delivery {

struct stripe_api_client::impl {
  std::string base;
  std::string auth; // "Authorization: Bearer …": never logged
  std::chrono::milliseconds timeout;
  curl::handle curl;
};

stripe_api_client::stripe_api_client(std::string base_url, std::string api_key,
                                     std::chrono::milliseconds timeout) :
    impl_(std::make_unique<impl>()) {
  impl_->base = std::move(base_url);
  impl_->auth = "Authorization: Bearer " + api_key;
  impl_->timeout = timeout;
}

stripe_api_client::~stripe_api_client() = default;

stripe_event_page stripe_api_client::undelivered_events(int64_t created_since_unix,
                                                        const std::string& starting_after) {
  stripe_event_page page;
  CURL* c = impl_->curl.get();
  if (!c) {
    page.outcome = {send_status::failed, "libcurl could not create a handle", 0};
    return page;
  }
  auto url = impl_->base + "/v1/events?delivery_success=false&limit=100&created%5Bgte%5D=" +
             std::to_string(created_since_unix);
  if (!starting_after.empty()) {
    char* escaped = curl_easy_escape(c, starting_after.c_str(), static_cast<int>(starting_after.size()));
    url += std::string{"&starting_after="} + escaped;
    curl_free(escaped);
  }
  // A page is a few hundred KB; anything this large is not one.
  curl::body body{{}, 8u << 20, true};
  char error[CURL_ERROR_SIZE] = {};
  curl_slist* headers = curl_slist_append(nullptr, impl_->auth.c_str());
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  curl::collect_into(c, body);
  curl::set_limits(c, std::min(impl_->timeout, std::chrono::milliseconds{10000}), impl_->timeout, error);
  auto [rc, code] = curl::perform(c, headers);
  if (rc != CURLE_OK) {
    page.outcome = {rc == CURLE_OPERATION_TIMEDOUT ? send_status::timeout : send_status::failed,
                    curl::describe(rc, error, 0), code};
    return page;
  }
  if (code < 200 || code >= 300) {
    page.outcome = {code == 400 || code == 404 ? send_status::rejected : send_status::failed,
                    "Stripe answered " + std::to_string(code) + ": " + body.text.substr(0, 300), code};
    return page;
  }
  auto parsed = nlohmann::json::parse(body.text, nullptr, false);
  if (!parsed.is_object() || !parsed.contains("data") || !parsed["data"].is_array()) {
    page.outcome = {send_status::failed, "Stripe's answer is not an event list", code};
    return page;
  }
  page.outcome = {send_status::sent, "ok", code};
  page.events = std::move(parsed["data"]);
  page.has_more = parsed.value("has_more", false);
  return page;
}

} // namespace clean::delivery
