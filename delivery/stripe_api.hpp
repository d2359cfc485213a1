#pragma once

// The one call stripe-reconcile makes to Stripe's API: list events that
// Stripe could not deliver, newest first, one page at a time
// (GET /v1/events?delivery_success=false&created[gte]=…&limit=100
// [&starting_after=evt_…]). Blocking (libcurl): job threads only.

#include "delivery/mail_adapters.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace clean::delivery {

struct stripe_event_page {
  send_outcome outcome;  // sent = the page arrived
  nlohmann::json events; // array of Stripe event objects
  bool has_more = false;
};

class stripe_api_client {
public:
  stripe_api_client(std::string base_url, std::string api_key, std::chrono::milliseconds timeout);
  ~stripe_api_client();
  stripe_api_client(const stripe_api_client&) = delete;
  stripe_api_client& operator=(const stripe_api_client&) = delete;

  stripe_event_page undelivered_events(int64_t created_since_unix, const std::string& starting_after);

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace clean::delivery
