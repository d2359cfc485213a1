#pragma once

// The service's scheduling policy: CAF's work sharing (one central queue,
// idle workers parked on a condition variable, so an idle service costs no
// CPU) plus a hand-off slot per worker. An actor that an actor running on
// worker W makes runnable (a send, a response, a spawn) goes into W's slot
// and runs on W as soon as the current actor's turn ends, without the
// central queue's lock, allocation and futex wake-up of another worker.
// That is how a request/response pair or an actor -> pool hop stays on one
// core, as Erlang keeps a message's receiver on the sender's scheduler.
//
// What keeps it fair:
//   - one slot: a second actor made runnable in the same turn goes to the
//     central queue, where the other worker can take it at once;
//   - the slot never jumps the queue: when the central queue holds work,
//     the slot's actor is queued behind it instead of run first, so two
//     actors calling each other cannot starve everything else;
//   - an actor's turn is bounded by `scheduler.max-throughput`, so what
//     waits in a slot waits for at most that many messages;
//   - only W's own thread fills W's slot (a response delivered from
//     another thread through an actor last run on W goes to the queue).

#include <caf/policy/unprofiled.hpp>
#include <caf/resumable.hpp>
#include <caf/scheduler/abstract_coordinator.hpp>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>

namespace clean::supervision {

class handoff_sharing : public caf::policy::unprofiled {
public:
  struct coordinator_data {
    explicit coordinator_data(caf::scheduler::abstract_coordinator*) {}
    std::deque<caf::resumable*> queue;
    std::mutex lock;
    std::condition_variable cv;
    /// queue.size(), readable without the lock (a hint: see dequeue).
    std::atomic<size_t> queued{0};
  };

  struct worker_data {
    explicit worker_data(caf::scheduler::abstract_coordinator*) {}
    caf::resumable* next = nullptr; // the hand-off slot
  };

  template <class Coordinator>
  void enqueue(Coordinator* self, caf::resumable* job) {
    auto& data = d(self);
    // Notified under the lock, as CAF's own policy does: a thread outside
    // the system may enqueue the last job, which can run and let the
    // system (and this queue) be destroyed before an unlocked notify_one
    // would have returned.
    std::lock_guard<std::mutex> guard{data.lock};
    data.queue.push_back(job);
    data.queued.store(data.queue.size(), std::memory_order_relaxed);
    data.cv.notify_one();
  }

  template <class Coordinator>
  void central_enqueue(Coordinator* self, caf::resumable* job) {
    enqueue(self, job);
  }

  template <class Worker>
  void external_enqueue(Worker* self, caf::resumable* job) {
    enqueue(self->parent(), job);
  }

  template <class Worker>
  void internal_enqueue(Worker* self, caf::resumable* job) {
    auto& slot = d(self).next;
    if (running_on() == self && slot == nullptr) {
      slot = job;
      return;
    }
    enqueue(self->parent(), job);
  }

  template <class Worker>
  void resume_job_later(Worker* self, caf::resumable* job) {
    // A turn used up its throughput: to the back of the line.
    enqueue(self->parent(), job);
  }

  template <class Worker>
  caf::resumable* dequeue(Worker* self) {
    running_on() = self;
    auto& data = d(self->parent());
    if (auto* handed = std::exchange(d(self).next, nullptr)) {
      // A stale 0 only lets the slot go first once more.
      if (data.queued.load(std::memory_order_relaxed) == 0)
        return handed;
      std::lock_guard<std::mutex> guard{data.lock};
      data.queue.push_back(handed);
      return pop_front(data);
    }
    std::unique_lock<std::mutex> guard{data.lock};
    data.cv.wait(guard, [&] { return !data.queue.empty(); });
    return pop_front(data);
  }

  template <class Worker, class UnaryFunction>
  void foreach_resumable(Worker* self, UnaryFunction f) {
    if (auto* handed = std::exchange(d(self).next, nullptr))
      f(handed);
  }

  template <class Coordinator, class UnaryFunction>
  void foreach_central_resumable(Coordinator* self, UnaryFunction f) {
    auto& data = d(self);
    std::lock_guard<std::mutex> guard{data.lock};
    while (!data.queue.empty())
      f(pop_front(data));
  }

private:
  /// The worker whose thread this is (null on any other thread).
  static const void*& running_on() {
    thread_local const void* worker = nullptr;
    return worker;
  }

  static caf::resumable* pop_front(coordinator_data& data) {
    auto* job = data.queue.front();
    data.queue.pop_front();
    data.queued.store(data.queue.size(), std::memory_order_relaxed);
    return job;
  }
};

} // namespace clean::supervision
