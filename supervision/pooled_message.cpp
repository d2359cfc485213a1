#include "supervision/pooled_message.hpp"

#include <sys/mman.h>

#include <cstdlib>
#include <mutex>
#include <new>
#include <vector>

namespace clean::supervision::pool {

namespace {

/// Fresh blocks come from 2 MB slabs the kernel may back with huge pages:
/// a deep mailbox touches hundreds of megabytes once, and a fault per 4 KB
/// page showed up in the profile of the 10 M message fan-in.
constexpr std::size_t slab_bytes = std::size_t{2} << 20;

struct batch {
  free_block* list;
  std::size_t count;
};

} // namespace

struct depot::impl {
  std::mutex mutex;
  std::vector<batch> batches;
  char* slab = nullptr;
  char* slab_end = nullptr;
  std::vector<char*> slabs; // kept so leak checkers see them as owned
};

depot::depot(std::size_t block_size) noexcept : impl_(new impl), block_size_(block_size) {}

refill depot::take() {
  std::lock_guard<std::mutex> guard{impl_->mutex};
  if (!impl_->batches.empty()) {
    auto given = impl_->batches.back();
    impl_->batches.pop_back();
    return refill{given.list, given.count, nullptr, nullptr};
  }
  auto run = batch_size * block_size_;
  if (impl_->slab == nullptr || static_cast<std::size_t>(impl_->slab_end - impl_->slab) < run) {
    auto* slab = static_cast<char*>(std::aligned_alloc(slab_bytes, slab_bytes));
    if (slab == nullptr)
      throw std::bad_alloc{};
    ::madvise(slab, slab_bytes, MADV_HUGEPAGE); // advice only: 4 KB pages work too
    impl_->slabs.push_back(slab);
    impl_->slab = slab;
    impl_->slab_end = slab + slab_bytes;
  }
  auto* fresh = impl_->slab;
  impl_->slab += run;
  return refill{nullptr, 0, fresh, fresh + run};
}

void depot::give(free_block* list, std::size_t count) noexcept {
  std::lock_guard<std::mutex> guard{impl_->mutex};
  try {
    impl_->batches.push_back(batch{list, count});
  } catch (...) {
    // Out of memory for the bookkeeping: the batch stays unused rather
    // than freed into an allocator that did not hand it out.
  }
}

namespace {

/// Empties the calling thread's caches when the thread exits. It is the
/// only thread-local here with a destructor; the caches outlive it.
class exit_hook {
public:
  void add(thread_cache* cache) { caches_.push_back(cache); }
  ~exit_hook() {
    for (auto* cache : caches_)
      cache->detach();
  }

private:
  std::vector<thread_cache*> caches_;
};

} // namespace

void thread_cache::attach(depot& shared) {
  thread_local exit_hook hook;
  depot_ = &shared;
  hook.add(this);
}

void thread_cache::detach() noexcept {
  if (spare_ != nullptr)
    depot_->give(spare_, batch_size);
  if (head_ != nullptr)
    depot_->give(head_, count_);
  spare_ = head_ = nullptr;
  count_ = 0;
  fresh_ = fresh_end_ = nullptr; // an unused fresh run is dropped: at most one batch
  spill_at_ = 1;
}

// After `detach` this still works; a batch taken then stays with the
// exiting thread.
void* thread_cache::allocate_slow() {
  if (spare_ != nullptr) {
    head_ = spare_;
    count_ = batch_size;
    spare_ = nullptr;
    return allocate();
  }
  auto got = depot_->take();
  head_ = got.list;
  count_ = got.count;
  fresh_ = got.fresh;
  fresh_end_ = got.fresh_end;
  return allocate();
}

void thread_cache::spill() noexcept {
  if (spill_at_ < batch_size) { // detached: the thread is going away
    depot_->give(head_, count_);
    head_ = nullptr;
    count_ = 0;
    return;
  }
  // The list just reached a full batch: keep it as the spare, and send
  // the previous spare, if any, back for other threads to use.
  if (spare_ != nullptr)
    depot_->give(spare_, batch_size);
  spare_ = head_;
  head_ = nullptr;
  count_ = 0;
}

} // namespace clean::supervision::pool
