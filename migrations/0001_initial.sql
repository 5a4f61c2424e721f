-- Payments: one row per checkout attempt a customer starts. Money is in integer minor units.
CREATE TABLE payments (
    id                  TEXT PRIMARY KEY,           -- public id, also the capability in status URLs
    request_key         TEXT NOT NULL UNIQUE,       -- form token + order: a resubmitted form finds its payment
    product_id          TEXT NOT NULL,
    product_name        TEXT NOT NULL,
    quantity            INTEGER NOT NULL CHECK (quantity > 0),
    unit_amount         INTEGER NOT NULL CHECK (unit_amount > 0),
    amount              INTEGER NOT NULL CHECK (amount > 0),
    currency            TEXT NOT NULL,
    customer_name       TEXT NOT NULL,
    customer_email      TEXT NOT NULL,
    status              TEXT NOT NULL,
    status_reason       TEXT,                       -- why it is in this status, in words a customer can read
    checkout_attempts   INTEGER NOT NULL DEFAULT 0, -- numbers the idempotency key of each create attempt
    checkout_session_id TEXT UNIQUE,
    checkout_url        TEXT,
    payment_intent_id   TEXT,
    expires_at          INTEGER,                    -- unix seconds, when the Checkout Session expires
    created_at          INTEGER NOT NULL,           -- unix milliseconds
    updated_at          INTEGER NOT NULL,
    version             INTEGER NOT NULL DEFAULT 1  -- bumped on every change; live status pushes carry it
);

CREATE INDEX payments_payment_intent ON payments (payment_intent_id);
CREATE INDEX payments_status_created ON payments (status, created_at);
CREATE INDEX payments_created ON payments (created_at);
CREATE INDEX payments_email ON payments (customer_email COLLATE NOCASE);
