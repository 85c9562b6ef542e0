-- The outcome of every new version of a strategy (its file changed, or its `strategies` row
-- in Supabase), inserted once on id: accepted (running now) or refused (the previous
-- version keeps running) with the reasons. Same shape as the Supabase table in
-- supabase/migrations/, without the owner column.
CREATE TABLE strategy_reloads (
    id          TEXT    NOT NULL PRIMARY KEY,
    run_id      TEXT    NOT NULL,
    ts_ns       INTEGER NOT NULL,
    strategy    TEXT    NOT NULL,
    origin      TEXT    NOT NULL CHECK (origin IN ('file', 'database')),
    version     INTEGER,
    source_hash TEXT    NOT NULL,
    accepted    INTEGER NOT NULL CHECK (accepted IN (0, 1)),
    message     TEXT    NOT NULL
) STRICT;
