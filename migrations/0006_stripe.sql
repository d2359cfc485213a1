-- Stripe webhooks: every verified delivery is recorded by Stripe's event id
-- in the same transaction as its effect (so a redelivery is recognised and
-- never applied twice), and kept for inspection and replay, including the
-- ones that contradicted our records.

CREATE TABLE stripe_events (
  id            text PRIMARY KEY,
  seq           bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
  type          text NOT NULL,
  status        text NOT NULL CHECK (status IN ('received', 'applied', 'ignored', 'payload_mismatch')),
  invoice_id    bigint REFERENCES invoices (id),
  detail        text,
  payload       text NOT NULL,
  stripe_created_at timestamptz,
  received_at   timestamptz NOT NULL DEFAULT now(),
  processed_at  timestamptz,
  replays       integer NOT NULL DEFAULT 0
);
CREATE INDEX stripe_events_received_idx ON stripe_events (received_at DESC, seq DESC);
CREATE INDEX stripe_events_status_idx ON stripe_events (status, received_at DESC, seq DESC);

-- What the payment events tell us about an invoice.
ALTER TABLE invoices
  ADD COLUMN refunded_at timestamptz,
  ADD COLUMN last_payment_error text,
  ADD COLUMN payment_failed_at timestamptz;
