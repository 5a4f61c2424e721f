-- The operator console (server/console): who may sign in, their sessions and API tokens, the
-- refunds they ask for, and the indexes its payment list needs to stay fast at any size.

-- The one operator password (argon2id hash; the password itself is never stored).
CREATE TABLE console_credentials (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    password_hash TEXT NOT NULL,
    changed_at    INTEGER NOT NULL          -- unix milliseconds
);

-- One-time links printed at start while no password is set: sha256 of the token, never the token.
CREATE TABLE console_setup_tokens (
    token_hash TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,            -- unix milliseconds
    used_at    INTEGER
);

-- Signed-in browsers: sha256 of the cookie's token. Deleting a row signs that browser out.
CREATE TABLE console_sessions (
    token_hash   TEXT PRIMARY KEY,
    created_at   INTEGER NOT NULL,          -- the absolute timeout counts from here
    last_seen_at INTEGER NOT NULL,          -- the idle timeout counts from here
    client       TEXT NOT NULL DEFAULT ''   -- address and user agent at sign-in, for the settings page
);

-- Bearer tokens for the operator's scripts: sha256 of the token; `prefix` identifies it in lists.
CREATE TABLE console_api_tokens (
    id           INTEGER PRIMARY KEY,
    name         TEXT NOT NULL,
    prefix       TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER
);

-- Refunds the operator asked for, recorded before Stripe is called: the row's id is the Stripe
-- idempotency key, and `form_token` (UNIQUE) makes a double-submitted form find the same row.
CREATE TABLE refund_requests (
    id               INTEGER PRIMARY KEY,
    payment_id       TEXT NOT NULL REFERENCES payments (id),
    form_token       TEXT NOT NULL UNIQUE,
    amount           INTEGER NOT NULL CHECK (amount > 0),
    reason           TEXT,
    requested_by     TEXT NOT NULL,         -- 'console' or 'api:<token name>'
    state            TEXT NOT NULL CHECK (state IN ('sending', 'sent', 'refused', 'unavailable', 'discarded')),
    stripe_refund_id TEXT,
    message          TEXT,                  -- Stripe's refusal or why it could not be reached
    attempts         INTEGER NOT NULL DEFAULT 0,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);
CREATE INDEX refund_requests_payment ON refund_requests (payment_id, created_at);

-- The payment list is ordered by (created_at, id), newest first, and paged by keyset: each
-- filter has an index ending in (created_at, id), so no query sorts or scans the table.
CREATE INDEX payments_created_id ON payments (created_at, id);
CREATE INDEX payments_status_created_id ON payments (status, created_at, id);
CREATE INDEX payments_product_created_id ON payments (product_id, created_at, id);
CREATE INDEX payments_email_created_id ON payments (customer_email COLLATE NOCASE, created_at, id);
