-- One row per engine run: identity (version, hash of the parsed config), start, stop,
-- status and heartbeat, upserted on run_id under the event-sequence guard. A row still
-- `running` whose heartbeat is old belongs to a run that died. Same shape as the Supabase
-- table in supabase/migrations/, without the owner column.
CREATE TABLE runs (
    run_id       TEXT    NOT NULL PRIMARY KEY,
    version      TEXT    NOT NULL,
    config_hash  TEXT    NOT NULL,
    started_ns   INTEGER NOT NULL,
    stopped_ns   INTEGER,
    status       TEXT    NOT NULL CHECK (status IN ('running', 'stopped')),
    heartbeat_ns INTEGER NOT NULL,
    seq          INTEGER NOT NULL
) STRICT;
