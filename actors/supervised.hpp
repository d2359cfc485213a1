#pragma once

// What every supervised actor shares with its supervisor: the heartbeat
// protocol. A child beats by sending itself `beat_atom` on an interval and
// forwarding `heartbeat_atom` to its supervisor when it handles it, so the
// beat proves the actor's mailbox is being processed, not just that a timer
// fires somewhere.

#include <caf/actor.hpp>
#include <caf/atom.hpp>
#include <caf/local_actor.hpp>
#include <caf/send.hpp>

#include <chrono>

namespace clean {

using heartbeat_atom = caf::atom_constant<caf::atom("heartbeat")>;
using beat_atom = caf::atom_constant<caf::atom("beat")>;

/// Handed to a child when its supervisor starts it.
struct supervised_context {
  /// Where heartbeats go; null when the actor runs unsupervised (tests).
  caf::actor supervisor;
  /// 0 = the child does not heartbeat.
  std::chrono::milliseconds heartbeat_interval{0};
};

/// Sends one heartbeat and schedules the next beat. Call once when the actor
/// starts and again from its `beat_atom` handler.
template <class Self>
void beat(Self* self, const supervised_context& ctx) {
  if (!ctx.supervisor || ctx.heartbeat_interval.count() <= 0)
    return;
  // anon_send: typed actors may not send() to the untyped supervisor, so
  // the beat names its sender explicitly.
  caf::anon_send(ctx.supervisor, heartbeat_atom::value, self->address());
  self->delayed_send(self, ctx.heartbeat_interval, beat_atom::value);
}

} // namespace clean
