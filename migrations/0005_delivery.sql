-- Email delivery and the outbox's dead letters: when an event died and how
-- often on-call replayed it, the index the dead-letter listing pages
-- through, and circuit breakers forced by on-call (shared by every
-- instance, surviving restarts).

ALTER TABLE outbox_events
  ADD COLUMN dead_at timestamptz,
  ADD COLUMN replays integer NOT NULL DEFAULT 0,
  ADD COLUMN last_replayed_at timestamptz,
  ADD COLUMN last_replayed_by text;
UPDATE outbox_events SET dead_at = updated_at WHERE status = 'dead';
CREATE INDEX outbox_dead_idx ON outbox_events (kind, dead_at, id) WHERE status = 'dead';

CREATE TABLE circuit_overrides (
  circuit  text PRIMARY KEY,
  state    text NOT NULL CHECK (state IN ('forced_open', 'forced_closed')),
  set_by   text NOT NULL,
  reason   text,
  set_at   timestamptz NOT NULL DEFAULT now()
);
