#pragma once

// The Stripe event ids one HTTP event loop has seen reach a state that can no
// longer change (applied, or of a type we never act on), so a redelivery of
// one is answered `duplicate` without a trip to the database. Only a cache:
// PostgreSQL stays the record, an id missing here goes the database's way,
// and an id is remembered only once its commit has been answered. Bounded
// in size (the oldest id goes first) and in age: Stripe's own redeliveries
// follow within minutes, and an id older than `max_age` goes back to the
// database, so a database restored to an earlier point is believed again
// soon. One per event loop, used only from its thread, so it takes no lock.

#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_set>

namespace clean::http {

class settled_events {
public:
  using clock = std::chrono::steady_clock;

  /// Holds at most `capacity` ids (0: remembers nothing), none older than
  /// `max_age`; shrinking drops the oldest.
  void configure(size_t capacity, clock::duration max_age);

  /// Whether `event_id` was remembered no longer than `max_age` before `now`.
  bool contains(std::string_view event_id, clock::time_point now);

  /// Remembers an event whose stored state is final, as of `now`.
  void remember(const std::string& event_id, clock::time_point now);

  /// Forgets everything (the database failed: what it holds is in doubt).
  void clear();

  size_t size() const { return ids_.size(); }

private:
  struct entry {
    const std::string* id; // the set's own string: its address survives a rehash
    clock::time_point at;
  };

  // Looked up by string_view: a miss must not cost an allocation.
  struct id_hash {
    using is_transparent = void;
    size_t operator()(std::string_view id) const { return std::hash<std::string_view>{}(id); }
  };

  void drop_oldest();
  void evict_to(size_t limit);
  void expire(clock::time_point now);

  size_t capacity_ = 0;
  clock::duration max_age_{};
  std::unordered_set<std::string, id_hash, std::equal_to<>> ids_;
  std::deque<entry> oldest_first_;
};

} // namespace clean::http
