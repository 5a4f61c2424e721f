-- After the payment: signed notifications to the operator's own systems (server/notify), and
-- "My payments" sign-in links for customers (at the end). A notification is written
-- in the transaction that applies the payment change it reports; it is rendered once (its body
-- is stored, so every attempt sends the same bytes) into one delivery per destination, and every
-- attempt is kept with the receiver's answer. Ids are text (ntf_, ntd_, nta_).
CREATE TABLE notifications (
    id         TEXT PRIMARY KEY,                  -- ntf_...: the body's id and the Idempotency-Key
    payment_id TEXT NOT NULL REFERENCES payments (id),
    seq        INTEGER NOT NULL,                  -- the payment's notifications in order: 1, 2, ...
    type       TEXT NOT NULL,                     -- payment.succeeded, payment.refunded, ...
    dedupe_key TEXT NOT NULL,                     -- one notification per payment and change, ever
    data       TEXT NOT NULL,                     -- JSON: the payment as the change left it, and the change
    body       TEXT,                              -- the JSON body as rendered for sending; NULL until then
    created_at INTEGER NOT NULL,                  -- unix milliseconds
    UNIQUE (payment_id, dedupe_key),
    UNIQUE (payment_id, seq)
);
CREATE INDEX notifications_unrendered ON notifications (created_at) WHERE body IS NULL;

CREATE TABLE notification_deliveries (
    id              TEXT PRIMARY KEY,             -- ntd_...
    notification_id TEXT NOT NULL REFERENCES notifications (id),
    payment_id      TEXT NOT NULL,
    seq             INTEGER NOT NULL,             -- the notification's: a payment's go out in order
    url             TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,             -- unix milliseconds; pushed on while an attempt runs
    retry_until     INTEGER NOT NULL,             -- no retry is scheduled after this: given up
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    delivered_at    INTEGER,
    UNIQUE (notification_id, url)
);
CREATE INDEX notification_deliveries_due ON notification_deliveries (status, next_attempt_at);
CREATE INDEX notification_deliveries_order ON notification_deliveries (payment_id, url, seq);

CREATE TABLE notification_attempts (
    id          TEXT PRIMARY KEY,                 -- nta_...
    delivery_id TEXT NOT NULL REFERENCES notification_deliveries (id),
    started_at  INTEGER NOT NULL,                 -- unix milliseconds
    duration_ms INTEGER NOT NULL,
    status_code INTEGER,                          -- the receiver's HTTP status; NULL when none came
    answer      TEXT NOT NULL                     -- the start of its answer, or why there was none
);
CREATE INDEX notification_attempts_delivery ON notification_attempts (delivery_id, started_at);

-- "My payments" (server/my_payments.py): one-time sign-in links mailed to a customer, and the
-- short sessions they open. Only the SHA-256 of each token is stored, never the token.
CREATE TABLE customer_links (
    token_hash TEXT PRIMARY KEY,
    email      TEXT NOT NULL,                     -- as typed, trimmed; compared without case
    created_at INTEGER NOT NULL,                  -- unix milliseconds
    expires_at INTEGER NOT NULL,
    used_at    INTEGER                            -- set once: a link opens one session
);
CREATE INDEX customer_links_expires ON customer_links (expires_at);

CREATE TABLE customer_sessions (
    token_hash TEXT PRIMARY KEY,
    email      TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL                   -- unix milliseconds; signed out after this
);
CREATE INDEX customer_sessions_expires ON customer_sessions (expires_at);
