#pragma once

// The service's scheduling policy: CAF's work sharing (one central queue,
// idle workers parked on a condition variable, so an idle service costs no
// CPU) plus a hand-off slot per worker. An actor that an actor running on
// worker W makes runnable (a send, a response, a spawn) goes into W's slot
// and runs on W as soon as the current actor's turn ends, without the
// central queue's allocation and futex wake-up of another worker.
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

#include <caf/logger.hpp>
#include <caf/policy/work_sharing.hpp>
#include <caf/resumable.hpp>
#include <caf/scheduler/worker.hpp>

#include <mutex>
#include <utility>

namespace clean::supervision {

/// CAF's work_sharing keeps the central queue, its lock and condition
/// variable, and every enqueue from outside a worker; this adds the slot.
class handoff_sharing : public caf::policy::work_sharing {
public:
  struct worker_data {
    explicit worker_data(caf::scheduler::abstract_coordinator*) {}
    caf::resumable* next = nullptr; // the hand-off slot
  };

  template <class Worker>
  void internal_enqueue(Worker* self, caf::resumable* job) {
    auto& slot = d(self).next;
    if (running_on() == self && slot == nullptr) {
      slot = job;
      return;
    }
    work_sharing::internal_enqueue(self, job);
  }

  template <class Worker>
  caf::resumable* dequeue(Worker* self) {
    if (running_on() != self) {
      running_on() = self;
      detach_caf_logger();
    }
    auto* handed = std::exchange(d(self).next, nullptr);
    if (handed == nullptr)
      return work_sharing::dequeue(self);
    auto& central = d(self->parent());
    std::lock_guard<std::mutex> guard{central.lock};
    if (central.queue.empty())
      return handed;
    // Work already queued goes first; the slot's actor lines up behind it.
    central.queue.push_back(handed);
    auto* job = central.queue.front();
    central.queue.pop_front();
    return job;
  }

  template <class Worker, class UnaryFunction>
  void foreach_resumable(Worker* self, UnaryFunction f) {
    if (auto* handed = std::exchange(d(self).next, nullptr))
      f(handed);
  }

private:
  /// CAF 0.17 is built here with its logging compiled out, yet around every
  /// job a worker and the actor's resume still swap the thread's actor id in
  /// the logger: four lookups in a map behind a spinlock both workers share
  /// (8 % of a request/response round trip, BENCHMARKS.md). Without a
  /// logger on this thread those swaps are skipped; nothing is logged either
  /// way. Called once per worker thread, after CAF has set its logger.
  static void detach_caf_logger() { caf::logger::set_current_actor_system(nullptr); }

  /// The worker whose thread this is (null on any other thread).
  static const void*& running_on() {
    thread_local const void* worker = nullptr;
    return worker;
  }
};

} // namespace clean::supervision

/// CAF's worker loop for this policy, as CAF writes it for any policy but
/// for the `dynamic_cast` of every job to `abstract_actor`, made only to
/// hand the logger an actor id: `CAF_PUSH_AID_FROM_PTR` evaluates its
/// argument even with logging compiled out, and the cross-cast (with its
/// type-name `strcmp`s) was 11 % of a request/response round trip. Declared
/// here so no translation unit instantiates CAF's own; defined in
/// handoff_scheduling.cpp.
template <>
void caf::scheduler::worker<clean::supervision::handoff_sharing>::run();
