#pragma once
// Mailbox elements from a block pool instead of `malloc`.
//
// CAF 0.17 allocates every message it enqueues as one
// `mailbox_element_vals<Ts...>` with `new`, and frees it with `delete` on
// the receiver's thread. For a message type that one actor receives from
// many senders at a high rate, that is a `malloc` on one core and a `free`
// of the same block on another, for every message. `CLEAN_POOLED_MESSAGE(T)`
// specializes `caf::mailbox_element_vals<T>` (T a single user type) with a
// class-specific `operator new`/`delete` that takes blocks from a per-thread
// cache, refilled from and spilled to a shared depot in batches, so a
// thread touches the depot's lock once per batch. CAF's
// `memory_managed` base exists for exactly this: the element is deleted
// through its virtual destructor, which calls the deallocation function of
// the class that was allocated.
//
// The specialization must be visible wherever `T` is sent, so the macro
// belongs right after `T`'s definition, in T's own header.
//
// Blocks are never handed back to the system: the pool keeps what its
// deepest mailbox needed. That suits message types with a steady high rate,
// not occasional bursts.

#include <caf/mailbox_element.hpp>

#include <cstddef>

namespace clean::supervision::pool {

struct free_block {
  free_block* next;
};

/// What a thread cache gets from the depot: a list of freed blocks, or,
/// when none were given back, a run of fresh ones to hand out in order.
struct refill {
  free_block* list = nullptr;
  std::size_t count = 0;
  char* fresh = nullptr;
  char* fresh_end = nullptr;
};

/// The blocks of one size, shared by all threads.
class depot {
public:
  explicit depot(std::size_t block_size) noexcept;
  depot(const depot&) = delete;
  depot& operator=(const depot&) = delete;

  refill take();
  void give(free_block* list, std::size_t count) noexcept;
  std::size_t block_size() const noexcept { return block_size_; }

private:
  struct impl;
  impl* impl_; // never freed: thread caches may outlive static destruction
  std::size_t block_size_;
};

/// Blocks moved between a thread and the depot at a time.
inline constexpr std::size_t batch_size = 256;

/// A thread's own blocks of one size. `spare` holds one full batch, so a
/// thread that alternately allocates and frees around the batch boundary
/// does not go to the depot each time. Trivially destructible on purpose: a
/// mailbox element may be freed while the thread's other thread-locals are
/// being destroyed, so the cache must stay usable until the thread is gone.
/// Its blocks go back to the depot from a separate thread-exit hook, after
/// which every block freed here goes straight back too.
class thread_cache {
public:
  constexpr thread_cache() noexcept = default;

  void* allocate() {
    if (head_ != nullptr) {
      auto* block = head_;
      head_ = block->next;
      --count_;
      return block;
    }
    if (fresh_ != fresh_end_) {
      auto* block = fresh_;
      fresh_ += depot_->block_size();
      return block;
    }
    return allocate_slow();
  }

  void deallocate(void* ptr) noexcept {
    auto* block = static_cast<free_block*>(ptr);
    block->next = head_;
    head_ = block;
    if (++count_ >= spill_at_)
      spill();
  }

  bool attached() const noexcept { return depot_ != nullptr; }
  /// Binds the cache to its depot and arranges for it to be emptied when
  /// the thread exits.
  void attach(depot& shared);
  /// Returns every block to the depot; what is freed later follows at once.
  void detach() noexcept;

private:
  void* allocate_slow();
  void spill() noexcept;

  depot* depot_ = nullptr;
  free_block* head_ = nullptr;
  std::size_t count_ = 0;
  std::size_t spill_at_ = batch_size;
  free_block* spare_ = nullptr; // a full batch, or nothing
  char* fresh_ = nullptr;
  char* fresh_end_ = nullptr;
};

constexpr std::size_t block_size_for(std::size_t bytes) noexcept {
  constexpr std::size_t align = alignof(std::max_align_t);
  return (bytes + align - 1) / align * align;
}

template <std::size_t BlockSize>
depot& depot_for() {
  static depot shared{BlockSize};
  return shared;
}

template <std::size_t BlockSize>
thread_cache& cache_for() {
  thread_local thread_cache cache;
  if (!cache.attached()) [[unlikely]]
    cache.attach(depot_for<BlockSize>());
  return cache;
}

} // namespace clean::supervision::pool

/// Gives message type `T` (a user type CAF can inspect) pooled mailbox
/// elements. Use at global scope, after `T` is complete.
#define CLEAN_POOLED_MESSAGE(T)                                                                              \
  template <>                                                                                                \
  class caf::mailbox_element_vals<T> final                                                                   \
      : public caf::mailbox_element,                                                                         \
        public caf::detail::tuple_vals_impl<caf::type_erased_tuple, T> {                                     \
  public:                                                                                                    \
    template <class U>                                                                                       \
    mailbox_element_vals(caf::strong_actor_ptr&& sender, caf::message_id mid, forwarding_stack&& stages,     \
                         U&& value) :                                                                        \
        caf::mailbox_element(std::move(sender), mid, std::move(stages)),                                     \
        caf::detail::tuple_vals_impl<caf::type_erased_tuple, T>(std::forward<U>(value)) {}                   \
    caf::type_erased_tuple& content() override { return *this; }                                             \
    const caf::type_erased_tuple& content() const override { return *this; }                                 \
    caf::message move_content_to_message() override {                                                        \
      return caf::make_message(std::move(std::get<0>(data())));                                              \
    }                                                                                                        \
    caf::message copy_content_to_message() const override { return caf::make_message(std::get<0>(data())); } \
    static void* operator new(std::size_t) { return cache().allocate(); }                                    \
    static void operator delete(void* ptr) noexcept { cache().deallocate(ptr); }                             \
                                                                                                             \
  private:                                                                                                   \
    static ::clean::supervision::pool::thread_cache& cache() {                                               \
      return ::clean::supervision::pool::cache_for<::clean::supervision::pool::block_size_for(               \
          sizeof(mailbox_element_vals))>();                                                                  \
    }                                                                                                        \
  }
