-- The business data: customers, their bookings, invoices, NPS surveys, and
-- what the API needs around it (API keys, idempotency records, the outbox).
--
-- Money is integer minor units (cents); times are timestamptz; ids are
-- bigint identities, which also give keyset pagination a stable tiebreaker.

-- Times cross the wire as microseconds since the Unix epoch: exact both ways
-- (extract() is numeric since PostgreSQL 14) and independent of TimeZone.
CREATE FUNCTION micros_to_ts(bigint) RETURNS timestamptz
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN timestamptz '1970-01-01 00:00:00+00' + $1 * interval '1 microsecond';

CREATE FUNCTION ts_to_micros(timestamptz) RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN (extract(epoch FROM $1) * 1000000)::bigint;

CREATE TABLE customers (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  email       text NOT NULL CHECK (length(email) BETWEEN 3 AND 320 AND email LIKE '%_@_%'),
  phone       text CHECK (phone IS NULL OR length(phone) BETWEEN 3 AND 32),
  status      text NOT NULL DEFAULT 'active' CHECK (status IN ('active')),
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);
-- Lists page through customers by (created_at, id).
CREATE INDEX customers_created_idx ON customers (created_at, id);
CREATE TRIGGER customers_touch BEFORE UPDATE ON customers
  FOR EACH ROW EXECUTE FUNCTION touch_updated_at();

CREATE TABLE bookings (
  id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  customer_id       bigint NOT NULL REFERENCES customers (id),
  scheduled_at      timestamptz NOT NULL,
  duration_minutes  integer NOT NULL CHECK (duration_minutes BETWEEN 1 AND 1440),
  address           text NOT NULL CHECK (length(address) BETWEEN 1 AND 500),
  status            text NOT NULL DEFAULT 'scheduled'
                      CHECK (status IN ('scheduled', 'completed', 'cancelled')),
  price_cents       bigint NOT NULL CHECK (price_cents >= 0),
  currency          text NOT NULL CHECK (currency ~ '^([A-Z]{3}|[a-z]{3})$'),
  completed_at      timestamptz,
  cancelled_at      timestamptz,
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now(),
  CHECK ((status = 'completed') = (completed_at IS NOT NULL)),
  CHECK ((status = 'cancelled') = (cancelled_at IS NOT NULL))
);
-- Lists page by (scheduled_at, id); reminders look for upcoming scheduled ones.
CREATE INDEX bookings_scheduled_idx ON bookings (scheduled_at, id);
CREATE INDEX bookings_status_scheduled_idx ON bookings (status, scheduled_at, id);
CREATE INDEX bookings_customer_idx ON bookings (customer_id, scheduled_at, id);
CREATE TRIGGER bookings_touch BEFORE UPDATE ON bookings
  FOR EACH ROW EXECUTE FUNCTION touch_updated_at();

CREATE TABLE invoices (
  id                        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  booking_id                bigint NOT NULL REFERENCES bookings (id),
  amount_cents              bigint NOT NULL CHECK (amount_cents > 0),
  currency                  text NOT NULL CHECK (currency ~ '^([A-Z]{3}|[a-z]{3})$'),
  status                    text NOT NULL DEFAULT 'open'
                              CHECK (status IN ('open', 'paid', 'void', 'refunded')),
  due_at                    timestamptz NOT NULL,
  stripe_payment_intent_id  text UNIQUE
                              CHECK (stripe_payment_intent_id IS NULL
                                     OR length(stripe_payment_intent_id) BETWEEN 1 AND 255),
  paid_at                   timestamptz,
  created_at                timestamptz NOT NULL DEFAULT now(),
  updated_at                timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX invoices_due_idx ON invoices (due_at, id);
CREATE INDEX invoices_status_due_idx ON invoices (status, due_at, id);
CREATE INDEX invoices_booking_idx ON invoices (booking_id);
CREATE TRIGGER invoices_touch BEFORE UPDATE ON invoices
  FOR EACH ROW EXECUTE FUNCTION touch_updated_at();

-- One survey per completed booking, created in the completing transaction;
-- the nps-send job emails the link once its configured delay has passed.
CREATE TABLE nps_surveys (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  booking_id  bigint NOT NULL UNIQUE REFERENCES bookings (id),
  token       text NOT NULL UNIQUE,
  sent_at     timestamptz,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX nps_surveys_unsent_idx ON nps_surveys (created_at) WHERE sent_at IS NULL;

CREATE TABLE nps_responses (
  survey_id    bigint PRIMARY KEY REFERENCES nps_surveys (id),
  score        smallint NOT NULL CHECK (score BETWEEN 0 AND 10),
  comment      text CHECK (comment IS NULL OR length(comment) <= 2000),
  answered_at  timestamptz NOT NULL DEFAULT now()
);

-- Only a SHA-256 of each key is stored; `prefix` identifies it in listings.
CREATE TABLE api_keys (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
  prefix        text NOT NULL,
  key_hash      text NOT NULL UNIQUE,
  created_at    timestamptz NOT NULL DEFAULT now(),
  last_used_at  timestamptz,
  revoked_at    timestamptz
);

-- The first successful answer to a POST carrying an Idempotency-Key, so a
-- retry gets the same answer. `scope` is the caller (an API key or an NPS
-- token); `request_hash` detects a key reused for a different request.
CREATE TABLE idempotency_keys (
  scope          text NOT NULL,
  key            text NOT NULL,
  request_hash   text NOT NULL,
  status_code    integer NOT NULL,
  response_body  text NOT NULL,
  created_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);

-- Follow-up work written in the same transaction as the business change that
-- causes it; delivered by the outbox dispatcher. `dedupe_key` makes writing
-- the same follow-up twice a no-op.
CREATE TABLE outbox_events (
  id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  kind             text NOT NULL CHECK (kind IN ('email', 'sms', 'export', 'webhook')),
  dedupe_key       text NOT NULL UNIQUE,
  payload          jsonb NOT NULL,
  status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'retry', 'delivered', 'dead')),
  attempts         integer NOT NULL DEFAULT 0,
  next_attempt_at  timestamptz NOT NULL DEFAULT now(),
  last_error       text,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  delivered_at     timestamptz
);
-- The dispatcher claims due work with FOR UPDATE SKIP LOCKED on this index.
CREATE INDEX outbox_due_idx ON outbox_events (next_attempt_at, id) WHERE status IN ('pending', 'retry');
CREATE INDEX outbox_status_idx ON outbox_events (status);
CREATE TRIGGER outbox_events_touch BEFORE UPDATE ON outbox_events
  FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
