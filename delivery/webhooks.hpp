#pragma once

// Outbound webhooks to an integration (INTEGRATION_WEBHOOK_URL): each
// business event is POSTed as JSON with a `Clean-Signature: t=<unix>,v1=<hex>`
// header, HMAC-SHA256 over "<t>.<body>" with the shared secret (the scheme
// Stripe uses, so receivers know how to check it), and `Clean-Event-Id` for
// their own de-duplication. Blocking (libcurl): only job threads call it.

#include "delivery/mail_adapters.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace clean::delivery {

/// "t=<unix_time>,v1=<hmac hex>".
std::string webhook_signature(const std::string& secret, int64_t unix_time, const std::string& body);

class webhook_client {
public:
  webhook_client(std::string url, std::string secret, std::chrono::milliseconds timeout);
  ~webhook_client();
  webhook_client(const webhook_client&) = delete;
  webhook_client& operator=(const webhook_client&) = delete;

  /// 2xx: sent. 408, 429, 5xx, timeouts and connection errors: failed
  /// (retried). Any other 4xx: rejected (the receiver refuses it for good).
  send_outcome post(const std::string& event_id, const std::string& body);

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace clean::delivery
