-- Payments by when they last changed: after its connection to PostgreSQL is lost and made again,
-- a process's change feed re-reads the payments changed since the last change it heard of
-- (server/change_feed.py), and without this index that read scans the whole table. Plain SQL:
-- SQLite and PostgreSQL run this file alike.
CREATE INDEX payments_updated_at ON payments (updated_at);
