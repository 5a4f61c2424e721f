-- A payment's checkout expiry in milliseconds, as every other *_at column is (it held Stripe's
-- seconds).
UPDATE payments SET expires_at = expires_at * 1000 WHERE expires_at IS NOT NULL;
