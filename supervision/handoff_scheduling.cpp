#include "supervision/handoff_scheduling.hpp"

#include <caf/scheduler/coordinator.hpp>

template <>
void caf::scheduler::worker<clean::supervision::handoff_sharing>::run() {
  // CAF's loop sets the logger's actor system here; the policy drops the
  // logger on its first dequeue anyway, so neither is done.
  for (;;) {
    auto* job = policy_.dequeue(this);
    policy_.before_resume(this, job);
    auto res = job->resume(this, max_throughput_);
    policy_.after_resume(this, job);
    switch (res) {
      case resumable::resume_later:
        policy_.resume_job_later(this, job); // it stays in the loop: keep the reference
        break;
      case resumable::done:
        policy_.after_completion(this, job);
        intrusive_ptr_release(job);
        break;
      case resumable::awaiting_message:
        intrusive_ptr_release(job); // enqueued again by its next message
        break;
      case resumable::shutdown_execution_unit:
        policy_.after_completion(this, job);
        policy_.before_shutdown(this);
        return;
    }
  }
}
