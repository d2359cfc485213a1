#pragma once

// What every libcurl caller of the delivery layer shares (mail adapters,
// integration webhooks, Stripe's API): a reused easy handle, bounded
// response bodies, the same limits on every transfer, and one way to say
// what went wrong. Internal to delivery/.

#include <curl/curl.h>

#include <chrono>
#include <string>

namespace clean::delivery::curl {

/// A reused easy handle: libcurl keeps the connection to the provider open
/// between calls, so a burst does not pay a TCP/TLS handshake each time.
/// The first handle runs libcurl's global initialisation.
class handle {
public:
  handle();
  ~handle();
  handle(const handle&) = delete;
  handle& operator=(const handle&) = delete;
  CURL* get() const { return h_; }

private:
  CURL* h_;
};

/// A response body: at most `limit` bytes are kept; with `fail_over_limit`
/// a longer body aborts the transfer instead (it cannot be what we asked for).
struct body {
  std::string text;
  size_t limit = 2000;
  bool fail_over_limit = false;
};

/// Collects the response into `b` (which must outlive the transfer).
void collect_into(CURL* c, body& b);

/// No signals (threads), connect and whole-call limits, and an error buffer
/// of CURL_ERROR_SIZE bytes for describe().
void set_limits(CURL* c, std::chrono::milliseconds connect, std::chrono::milliseconds total,
                char* error_buffer);

/// What one transfer came to: libcurl's code and the server's reply code.
struct transfer {
  CURLcode rc;
  long code;
};

/// Runs the transfer, then detaches `list` (set as `option`: headers or
/// mail recipients) from the handle and frees it. `list` may be null.
transfer perform(CURL* c, curl_slist* list = nullptr, CURLoption option = CURLOPT_HTTPHEADER);

/// libcurl's message (the error buffer's when set) and the reply code.
std::string describe(CURLcode rc, const char* error_buffer, long code);

} // namespace clean::delivery::curl
