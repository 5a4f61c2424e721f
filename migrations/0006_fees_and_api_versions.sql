-- What Stripe kept of each payment, and which API version each event was written in.
-- Plain ALTER TABLE ... ADD COLUMN, one column each: SQLite and PostgreSQL run this file alike.

-- The charge's balance transaction (Stripe fills it in a few seconds after the charge), fetched
-- from Stripe in the background: its fee and net in minor units of fee_currency, the account's
-- settlement currency. NULL until known. The columns repeat what the payment's facts hold.
ALTER TABLE payments ADD COLUMN balance_transaction_id TEXT;
ALTER TABLE payments ADD COLUMN fee INTEGER;
ALTER TABLE payments ADD COLUMN net INTEGER;
ALTER TABLE payments ADD COLUMN fee_currency TEXT;
-- Stripe's receipt page for the charge.
ALTER TABLE payments ADD COLUMN receipt_url TEXT;

-- Payments whose fee is still to be fetched: the balance worker's catch-up reads only these.
CREATE INDEX payments_fee_due ON payments (updated_at)
    WHERE fee IS NULL AND balance_transaction_id IS NOT NULL;

-- The API version Stripe rendered the event in (the webhook endpoint's version); NULL when the
-- event did not say (paydesk's own observed events).
ALTER TABLE stripe_events ADD COLUMN api_version TEXT;
CREATE INDEX stripe_events_api_version ON stripe_events (received_at, api_version);
