#include "http/settled_events.hpp"

namespace clean::http {

void settled_events::set_capacity(size_t capacity) {
  capacity_ = capacity;
  evict_to(capacity_);
}

void settled_events::remember(const std::string& event_id) {
  if (capacity_ == 0 || ids_.contains(event_id))
    return;
  evict_to(capacity_ - 1);
  oldest_first_.push_back(&*ids_.insert(event_id).first);
}

void settled_events::evict_to(size_t limit) {
  while (ids_.size() > limit) {
    ids_.erase(ids_.find(*oldest_first_.front()));
    oldest_first_.pop_front();
  }
}

} // namespace clean::http
