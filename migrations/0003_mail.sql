-- Mail delivery (server/mail): what the sender needs on top of the outbox rows webhooks enqueue.
-- A row is rendered once, on its first delivery attempt, and that text is stored: every retry,
-- and a resend after a crash between sending and marking, carries the same Message-ID, Date,
-- subject and body, so the receiver can recognise a copy it already has.
ALTER TABLE outbox ADD COLUMN message_id TEXT;       -- '<...@mail-from-domain>', set at first render
ALTER TABLE outbox ADD COLUMN subject TEXT;          -- as rendered, for the outbox command
ALTER TABLE outbox ADD COLUMN recipients TEXT;       -- JSON list of the envelope addresses
ALTER TABLE outbox ADD COLUMN message TEXT;          -- the full RFC 5322 message (ASCII, CRLF)
ALTER TABLE outbox ADD COLUMN last_attempt_at INTEGER;  -- unix milliseconds
