#pragma once

// The Stripe event ids one HTTP event loop has seen reach a state that can no
// longer change (applied, or of a type we never act on), so a redelivery of
// one is answered `duplicate` without a trip to the database. Only a cache:
// PostgreSQL stays the record, an id missing here goes the database's way,
// and an id is remembered only once its commit has been answered. Bounded:
// the oldest id goes first once `capacity` are held. One per event loop, used
// only from its thread, so it takes no lock.

#include <cstddef>
#include <deque>
#include <string>
#include <unordered_set>

namespace clean::http {

class settled_events {
public:
  /// Holds at most `capacity` ids (0: remembers nothing); shrinking drops the oldest.
  void set_capacity(size_t capacity);

  bool contains(const std::string& event_id) const { return ids_.contains(event_id); }

  /// Remembers an event whose stored state is final.
  void remember(const std::string& event_id);

  size_t size() const { return ids_.size(); }

private:
  void evict_to(size_t limit);

  size_t capacity_ = 0;
  std::unordered_set<std::string> ids_;
  // The set's own strings (their addresses survive a rehash), oldest first.
  std::deque<const std::string*> oldest_first_;
};

} // namespace clean::http
