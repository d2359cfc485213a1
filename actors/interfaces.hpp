#pragma once

// The service's message vocabulary: atoms, message types and typed actor
// interfaces, in one place so every actor speaks the same language.

#include "actors/jobs_health.hpp"
#include "actors/supervised.hpp"
#include "delivery/dispatch.hpp"
#include "persistence/job_state.hpp"
#include "persistence/records.hpp"
#include "persistence/stripe_events.hpp"

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/message.hpp>

#include <caf/atom.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include <cstdint>
#include <string>

namespace clean {

using probe_atom = caf::atom_constant<caf::atom("probe")>;
using readyz_atom = caf::atom_constant<caf::atom("readyz")>;
using drain_atom = caf::atom_constant<caf::atom("drain")>;
using tick_atom = caf::atom_constant<caf::atom("tick")>;
/// To a supervisor: -> JSON of its subtree.
using tree_atom = caf::atom_constant<caf::atom("tree")>;
/// To a supervisor: (path, "crash"|"hang") -> JSON acknowledgement (drills).
using fault_atom = caf::atom_constant<caf::atom("fault")>;

/// One round trip to PostgreSQL as seen by the readiness probe.
struct db_probe_result {
  bool ok = false;
  double latency_ms = 0;
  /// Highest applied migration (0 when none or unknown).
  int64_t schema_version = 0;
  std::string error;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, db_probe_result& x) {
  return f(caf::meta::type_name("db_probe_result"), x.ok, x.latency_ms, x.schema_version, x.error);
}

/// What `/readyz` reports. The HTTP layer renders it; `ok` flags are decided
/// here so every consumer agrees.
struct readiness_report {
  bool shutting_down = false;
  db_probe_result database;
  /// Age of the database result in milliseconds (0 = measured for this call).
  int64_t database_age_ms = 0;
  int64_t migrations_head = 0;
  jobs_readiness jobs;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, readiness_report& x) {
  return f(caf::meta::type_name("readiness_report"), x.shutting_down, x.database, x.database_age_ms,
           x.migrations_head, x.jobs);
}

/// Runs blocking database probes on its own thread (spawned `detached`).
/// The argument is the caller's deadline (steady clock, ns): a probe that
/// queued behind a hung one and is already late is skipped, not run.
using db_probe_actor =
    caf::typed_actor<caf::replies_to<probe_atom, int64_t>::with<db_probe_result>, caf::reacts_to<beat_atom>>;

/// Aggregates readiness: answers `/readyz` within its deadline even when the
/// database hangs, shares one in-flight probe between concurrent callers, and
/// turns unready once shutdown begins.
using health_actor =
    caf::typed_actor<caf::replies_to<readyz_atom>::with<readiness_report>, caf::reacts_to<drain_atom>,
                     caf::reacts_to<tick_atom>, caf::reacts_to<beat_atom>>;

// --- Database pool and the client API -------------------------------------

using auth_atom = caf::atom_constant<caf::atom("auth")>;
using create_atom = caf::atom_constant<caf::atom("create")>;
using get_atom = caf::atom_constant<caf::atom("get")>;
using list_atom = caf::atom_constant<caf::atom("list")>;
using complete_atom = caf::atom_constant<caf::atom("complete")>;
using cancel_atom = caf::atom_constant<caf::atom("cancel")>;
using answer_atom = caf::atom_constant<caf::atom("answer")>;

// Admin surface (handled by `admin_store`).
using bg_start_atom = caf::atom_constant<caf::atom("bg_start")>;
using bg_list_atom = caf::atom_constant<caf::atom("bg_list")>;
using bg_end_atom = caf::atom_constant<caf::atom("bg_end")>;
using bg_use_atom = caf::atom_constant<caf::atom("bg_use")>;
using audit_atom = caf::atom_constant<caf::atom("audit")>;
using audit_list_atom = caf::atom_constant<caf::atom("audit_list")>;
using gauges_atom = caf::atom_constant<caf::atom("gauges")>;

// Jobs (handled by `jobs_store`).
using runner_beat_atom = caf::atom_constant<caf::atom("run_beat")>;
using jobs_status_atom = caf::atom_constant<caf::atom("jobs_stat")>;
using jobs_control_atom = caf::atom_constant<caf::atom("jobs_ctl")>;

// --- Email delivery ---------------------------------------------------------

using send_atom = caf::atom_constant<caf::atom("send")>;
using circuits_atom = caf::atom_constant<caf::atom("circuits")>;
using circuit_ctl_atom = caf::atom_constant<caf::atom("circ_ctl")>;
/// To the email actor: (circuit_sync_atom, overrides) from the database.
using circuit_sync_atom = caf::atom_constant<caf::atom("circ_sync")>;

/// Owns the email provider adapter and its circuit breaker. Runs detached:
/// a send blocks on the network (bounded by EMAIL_SEND_TIMEOUT_SECONDS).
///   (send_atom, outbound_email)  -> email_send_result (deferred while open)
///   (circuits_atom)              -> JSON array of breaker snapshots
///   (circuit_ctl_atom, action, actor) -> JSON snapshot after the change;
///     action: force-open | force-closed | reset
using email_actor =
    caf::typed_actor<caf::replies_to<send_atom, delivery::outbound_email>::with<delivery::email_send_result>,
                     caf::replies_to<circuits_atom>::with<std::string>,
                     caf::replies_to<circuit_ctl_atom, std::string, std::string>::with<std::string>,
                     caf::reacts_to<circuit_sync_atom, std::vector<persistence::circuit_override>>,
                     caf::reacts_to<beat_atom>, caf::reacts_to<tick_atom>>;

// Stripe webhooks (handled by `stripe_store` on pooled connections, and the
// `stripe_webhook` actor in front of them).
using stripe_replay_atom = caf::atom_constant<caf::atom("stripe_rp")>;
using stripe_list_atom = caf::atom_constant<caf::atom("stripe_ls")>;
using stripe_rx_batch_atom = caf::atom_constant<caf::atom("stripe_rxb")>;

/// A batch of deliveries recorded in one transaction, position by position:
/// `receipts[i]`, or, when `errors[i]` is not empty, why delivery i was not
/// applied (nothing of it was written).
struct stripe_batch_result {
  std::vector<persistence::stripe_receipt> receipts;
  std::vector<std::string> errors;
};

/// Deliveries verified on one HTTP event-loop pass, handed to the webhook
/// actor as one message (one mailbox hand-off instead of one each).
using stripe_rx_many_atom = caf::atom_constant<caf::atom("stripe_rxm")>;

/// The webhook actor's answer to a group, position by position: when
/// `errors[i]` is an error, delivery i failed with it (nothing of it was
/// written); otherwise `receipts[i]` is what it came to.
struct stripe_delivery_answers {
  std::vector<persistence::stripe_receipt> receipts;
  std::vector<caf::error> errors;
};

// Dead letters and circuit overrides (handled by `outbox_store`).
using dlq_list_atom = caf::atom_constant<caf::atom("dlq_list")>;
using dlq_replay_atom = caf::atom_constant<caf::atom("dlq_replay")>;
using dlq_bulk_atom = caf::atom_constant<caf::atom("dlq_bulk")>;
using queues_atom = caf::atom_constant<caf::atom("queues")>;
using circuit_set_atom = caf::atom_constant<caf::atom("circ_set")>;

/// Work for the database pool: `payload` is run by a pooled connection's
/// handlers (e.g. `(get_atom, resource, ids)`), whose answer comes back to
/// the caller as the response. `op` names it in `db_query_duration_seconds`.
/// `deadline_ns` (steady clock) bounds the wait for a connection and the
/// query itself: past it the caller gets `errc::deadline_exceeded` and the
/// query is cancelled on the server.
struct db_call {
  std::string op;
  int64_t deadline_ns = 0;
  caf::message payload;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, db_call& x) {
  return f(caf::meta::type_name("db_call"), x.op, x.deadline_ns, x.payload);
}

/// The pool's handle type: dynamically typed, because it forwards any
/// payload its connections' handlers understand.
///
/// API payloads (handled by `api_store`, answered with `api_result` unless
/// noted; failures are `errc` errors):
///   (auth_atom, std::string key_hash)                 -> api_principal
///   (create_atom, write_context, customer_input)
///   (create_atom, write_context, booking_input)
///   (create_atom, write_context, invoice_input)
///   (get_atom, resource, std::vector<int64_t> ids) -> std::vector<api_result>
///     one statement; per id 200 with the record or 404 with the message
///   (list_atom, list_query)
///   (complete_atom | cancel_atom, write_context, int64_t booking_id)
///   (answer_atom, write_context, nps_input)
///
/// Admin payloads (handled by `admin_store`):
///   (bg_start_atom, break_glass_start)   -> api_result (201, holds the token)
///   (bg_list_atom, bool all)             -> api_result
///   (bg_end_atom, break_glass_end)       -> api_result
///   (bg_use_atom, std::string token_hash) -> break_glass_grant
///   (audit_atom, admin_audit_entry)      -> bool
///   (audit_list_atom, audit_query)       -> api_result
///   (gauges_atom)                        -> db_gauge_sample
///
/// Jobs payloads (handled by `jobs_store`):
///   (runner_beat_atom, instance, host, int32_t pid, int64_t started_at_micros) -> bool
///   (jobs_status_atom, std::vector<job_info>, int64_t ttl_seconds) -> api_result
///   (jobs_control_atom, std::string name, std::string action)      -> api_result
///     action: run | pause | resume; unknown job: not_found; run while paused: conflict
///
/// Dead-letter payloads (handled by `outbox_store`, answered with api_result):
///   (dlq_list_atom, dead_letter_query)
///   (dlq_replay_atom, int64_t id, std::string kind ("" any), std::string actor)
///     not dead: conflict (not_dead); unknown or other kind: not_found
///   (dlq_bulk_atom, dead_letter_bulk)
///   (queues_atom)
///   (circuit_set_atom, circuit_override)   state "" clears the override
///
/// Stripe payloads (handled by `stripe_store`):
///   (stripe_rx_batch_atom, std::vector<std::string> raw_bodies) -> stripe_batch_result
///       (one transaction and one commit for all; if one fails, each alone)
///   (stripe_replay_atom, std::string event_id)  -> stripe_receipt; unknown: not_found
///   (stripe_list_atom, stripe_event_query)      -> api_result
using db_pool_actor = caf::actor;

} // namespace clean

// Local-only message types (never serialized across nodes).
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(clean::persistence::customer_input)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(clean::persistence::booking_input)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(clean::persistence::invoice_input)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(clean::persistence::nps_input)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(clean::persistence::resource)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(clean::persistence::list_query)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(clean::persistence::api_result)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<clean::persistence::api_result>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(clean::persistence::api_principal)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(clean::persistence::write_context)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(clean::persistence::break_glass_grant)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(clean::persistence::break_glass_start)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(clean::persistence::break_glass_end)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(clean::persistence::admin_audit_entry)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(clean::persistence::audit_query)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(clean::persistence::db_gauge_sample)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<clean::persistence::job_store::job_info>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(clean::delivery::outbound_email)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(clean::persistence::dead_letter_query)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(clean::persistence::stripe_receipt)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(clean::stripe_batch_result)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(clean::stripe_delivery_answers)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(clean::persistence::stripe_event_query)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(clean::persistence::dead_letter_bulk)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(clean::persistence::circuit_override)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<clean::persistence::circuit_override>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(clean::delivery::email_send_result)
