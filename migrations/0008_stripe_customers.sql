-- Returning customers at Stripe: the Stripe Customer each email pays as (server/customers.py).
-- A Checkout Session for an email listed here is made for its Customer, so Stripe can offer the
-- cards that customer chose to save; an email not listed gets a Customer made at its first
-- completed checkout, recorded here in the transaction that applies that checkout's event.
CREATE TABLE stripe_customers (
    email       TEXT PRIMARY KEY,                -- lower-cased: one Customer however it is typed
    customer_id TEXT NOT NULL,                   -- cus_...
    created_at  INTEGER NOT NULL                 -- unix milliseconds; when it was last recorded
);
