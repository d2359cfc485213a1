-- The jobs runner: per-job state shared by every instance and the CLI, the
-- runners' own heartbeats, and what the reminder jobs need to send each
-- reminder once.

CREATE TABLE job_state (
  name                  text PRIMARY KEY,
  paused                boolean NOT NULL DEFAULT false,
  -- The next slot to run; whoever moves it forward first runs the slot.
  next_run_at           timestamptz,
  running_since         timestamptz,
  running_owner         text,
  last_heartbeat        timestamptz,
  last_started_at       timestamptz,
  last_finished_at      timestamptz,
  last_success_at       timestamptz,
  last_duration_ms      bigint,
  last_outcome          text CHECK (last_outcome IS NULL OR last_outcome IN ('success', 'failure')),
  last_summary          text,
  last_items            bigint,
  consecutive_failures  integer NOT NULL DEFAULT 0,
  last_error            text,
  last_error_at         timestamptz,
  created_at            timestamptz NOT NULL DEFAULT now(),
  updated_at            timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER job_state_touch BEFORE UPDATE ON job_state
  FOR EACH ROW EXECUTE FUNCTION touch_updated_at();

CREATE TABLE job_runners (
  instance        text PRIMARY KEY,
  host            text NOT NULL,
  pid             integer NOT NULL,
  started_at      timestamptz NOT NULL,
  last_heartbeat  timestamptz NOT NULL
);

-- Invoice reminders repeat at most once per interval; the count numbers
-- each reminder's dedupe key.
ALTER TABLE invoices
  ADD COLUMN reminders_sent integer NOT NULL DEFAULT 0,
  ADD COLUMN last_reminded_at timestamptz;
CREATE INDEX invoices_open_due_idx ON invoices (due_at, id) WHERE status = 'open';

-- Delivered outbox rows are pruned by age.
CREATE INDEX outbox_delivered_idx ON outbox_events (delivered_at) WHERE status = 'delivered';
