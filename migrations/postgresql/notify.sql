-- PostgreSQL only, applied after the numbered migrations on every `migrate` (re-runnable).

-- Every committed change of a payment is announced as '<payment id>:<version>' on the channel
-- paydesk_payments, at commit: each process's listener reads the row and pushes it to the
-- customers and operators watching it, whichever process wrote it.
CREATE OR REPLACE FUNCTION paydesk_announce_payment() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    PERFORM pg_notify('paydesk_payments', NEW.id || ':' || NEW.version);
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS payments_announce ON payments;
CREATE TRIGGER payments_announce AFTER INSERT OR UPDATE ON payments
    FOR EACH ROW EXECUTE FUNCTION paydesk_announce_payment();
