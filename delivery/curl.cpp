#include "delivery/curl.hpp"

#include <algorithm>
#include <mutex>

namespace clean::delivery::curl {

namespace {

size_t write_body(char* data, size_t size, size_t count, void* user) {
  auto* b = static_cast<body*>(user);
  auto n = size * count;
  if (b->text.size() + n > b->limit) {
    if (b->fail_over_limit)
      return 0; // libcurl aborts the transfer
    b->text.append(data, b->limit - std::min(b->limit, b->text.size()));
    return n;
  }
  b->text.append(data, n);
  return n;
}

} // namespace

handle::handle() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  h_ = curl_easy_init();
}

handle::~handle() {
  if (h_)
    curl_easy_cleanup(h_);
}

void collect_into(CURL* c, body& b) {
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
}

void set_limits(CURL* c, std::chrono::milliseconds connect, std::chrono::milliseconds total,
                char* error_buffer) {
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(connect.count()));
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(total.count()));
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error_buffer);
}

transfer perform(CURL* c, curl_slist* list, CURLoption option) {
  transfer t{curl_easy_perform(c), 0};
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &t.code);
  if (list) {
    curl_easy_setopt(c, option, nullptr);
    curl_slist_free_all(list);
  }
  return t;
}

std::string describe(CURLcode rc, const char* error_buffer, long code) {
  std::string out = error_buffer && *error_buffer ? error_buffer : curl_easy_strerror(rc);
  if (code > 0)
    out += " (reply " + std::to_string(code) + ")";
  return out;
}

} // namespace clean::delivery::curl
