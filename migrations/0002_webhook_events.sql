-- Webhook processing: every verified Stripe event once, the facts it taught each payment, and the
-- mail it decided on, all written in the transaction that applies the event.

-- What paydesk has learned about a payment from Stripe's events (server/lifecycle); the status
-- column is derived from it.
ALTER TABLE payments ADD COLUMN facts TEXT NOT NULL DEFAULT '{}';

CREATE TABLE stripe_events (
    id          TEXT PRIMARY KEY,       -- Stripe's event id: a redelivered event is recognised here
    type        TEXT NOT NULL,
    created     INTEGER NOT NULL,       -- when Stripe created it, unix seconds
    received_at INTEGER NOT NULL,       -- unix milliseconds
    payment_id  TEXT REFERENCES payments (id),
    outcome     TEXT NOT NULL CHECK (outcome IN ('applied', 'unchanged', 'ignored')),
    reason      TEXT NOT NULL,          -- the payment timeline's line: what it did, or why not
    payload     TEXT NOT NULL           -- the verified body as Stripe sent it
);
CREATE INDEX stripe_events_payment ON stripe_events (payment_id, created);
CREATE INDEX stripe_events_received ON stripe_events (received_at);

-- Mail decided by payment transitions; (payment_id, dedupe_key) makes a replayed event unable
-- to queue the same message twice. Delivery columns are filled by the mail sender.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    payment_id      TEXT NOT NULL REFERENCES payments (id),
    kind            TEXT NOT NULL,
    dedupe_key      TEXT NOT NULL,
    urgent          INTEGER NOT NULL DEFAULT 0,
    status          TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,   -- unix milliseconds
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    sent_at         INTEGER,
    UNIQUE (payment_id, dedupe_key)
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
