-- PostgreSQL only, applied after the numbered migrations on every `migrate` (re-runnable).

-- Rate limits every paydesk process shares (server/shared_limits.py): one token bucket per limit
-- and client. A row idle long enough to be full again is the same as no row, and is removed.
CREATE TABLE IF NOT EXISTS shared_limits (
    name       TEXT NOT NULL,              -- which limit, e.g. 'checkout'
    client     TEXT NOT NULL,              -- the client identity (server/web/client.py)
    tokens     DOUBLE PRECISION NOT NULL,  -- attempts left, refilled continuously
    updated_at BIGINT NOT NULL,            -- unix milliseconds, when tokens was computed
    PRIMARY KEY (name, client)
);
CREATE INDEX IF NOT EXISTS shared_limits_updated ON shared_limits (updated_at);
