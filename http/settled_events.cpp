#include "http/settled_events.hpp"

namespace clean::http {

void settled_events::configure(size_t capacity, clock::duration max_age) {
  capacity_ = capacity;
  max_age_ = max_age;
  evict_to(capacity_);
}

bool settled_events::contains(std::string_view event_id, clock::time_point now) {
  expire(now);
  return ids_.contains(event_id);
}

void settled_events::remember(const std::string& event_id, clock::time_point now) {
  expire(now);
  if (capacity_ == 0 || ids_.contains(event_id))
    return;
  evict_to(capacity_ - 1);
  auto it = ids_.insert(event_id).first;
  try {
    oldest_first_.push_back({&*it, now});
  } catch (...) {
    ids_.erase(it); // the set and the queue must hold the same ids
    throw;
  }
}

void settled_events::clear() {
  oldest_first_.clear();
  ids_.clear();
}

void settled_events::drop_oldest() {
  ids_.erase(ids_.find(*oldest_first_.front().id)); // read before the string goes
  oldest_first_.pop_front();
}

void settled_events::evict_to(size_t limit) {
  while (ids_.size() > limit && !oldest_first_.empty())
    drop_oldest();
}

void settled_events::expire(clock::time_point now) {
  while (!oldest_first_.empty() && now - oldest_first_.front().at > max_age_)
    drop_oldest();
}

} // namespace clean::http
