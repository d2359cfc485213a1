-- The admin surface: break-glass sessions (only a hash of each token is
-- stored) and the audit log of admin writes.

CREATE TABLE break_glass_sessions (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  token_hash    text NOT NULL UNIQUE,
  reason        text NOT NULL CHECK (length(reason) BETWEEN 1 AND 500),
  started_by    text NOT NULL,
  started_at    timestamptz NOT NULL DEFAULT now(),
  expires_at    timestamptz NOT NULL,
  ended_at      timestamptz,
  ended_by      text,
  uses          integer NOT NULL DEFAULT 0,
  last_used_at  timestamptz,
  CHECK (expires_at > started_at),
  CHECK ((ended_at IS NULL) = (ended_by IS NULL))
);
-- Open sessions are what the listing and the active gauge look for.
CREATE INDEX break_glass_sessions_open_idx ON break_glass_sessions (expires_at) WHERE ended_at IS NULL;

CREATE TABLE admin_audit (
  id                      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at                      timestamptz NOT NULL DEFAULT now(),
  actor                   text NOT NULL,
  action                  text NOT NULL,
  target                  text,
  reason                  text,
  break_glass_session_id  bigint REFERENCES break_glass_sessions (id),
  status                  integer NOT NULL,
  outcome                 text NOT NULL,
  request_id              text,
  client_address          text
);
-- Paged newest first by (at, id).
CREATE INDEX admin_audit_at_idx ON admin_audit (at DESC, id DESC);
CREATE INDEX admin_audit_break_glass_idx ON admin_audit (break_glass_session_id)
  WHERE break_glass_session_id IS NOT NULL;
