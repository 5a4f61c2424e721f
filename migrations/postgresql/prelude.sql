-- PostgreSQL only, applied before the numbered migrations on every `migrate`, so written to be
-- re-runnable: what SQLite has built in and the shared SQL relies on.

-- SQLite's NOCASE: `customer_email = ? COLLATE NOCASE` and the indexes on it read the same here.
CREATE COLLATION IF NOT EXISTS nocase (provider = icu, locale = 'und-u-ks-level2', deterministic = false);

-- instr(haystack, needle): where needle starts in haystack (1-based), 0 when it is absent.
CREATE OR REPLACE FUNCTION instr(text, text) RETURNS integer
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS 'SELECT strpos($1, $2)';

-- json_extract(document, '$.key.key'): the value at a path of a JSON text, as text; NULL when the
-- path is absent or holds JSON null, as SQLite's json_extract of a scalar.
CREATE OR REPLACE FUNCTION json_extract(text, text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$SELECT ($1::jsonb) #>> string_to_array(substr($2, 3), '.')$$;
